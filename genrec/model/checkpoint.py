"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint folder holds model.safetensors, optim.safetensors and state.json. A new checkpoint
is written whole into `<folder>.new` (state.json last), then swapped in by two renames; the
previous one is kept as `<folder>.old` until the swap is done. A kill at any moment leaves one
complete checkpoint that `load_checkpoint` finds (the folder, else .new, else .old): model and
optimizer files from different steps are never mixed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genrec.io import atomic_path, read_json, write_json


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """AdamW state as flat tensors '<param>.<name>' plus JSON-able param groups."""
    sd = opt.state_dict()
    flat = {f"{p}.{name}": torch.as_tensor(v) for p, st in sd["state"].items()
            for name, v in st.items()}
    return flat, sd["param_groups"]


def load_optimizer(opt: torch.optim.Optimizer, flat: dict[str, torch.Tensor], groups: Any) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        p, name = key.split(".", 1)
        state.setdefault(int(p), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    state: dict[str, Any], rng: dict[str, torch.Tensor],
                    extra: dict[str, torch.nn.Module] | None = None) -> None:
    """`extra` modules (weight averages) are saved beside the model as <name>.safetensors."""
    new, old = _sibling(folder, "new"), _sibling(folder, "old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    save_tensors(new / "model.safetensors", model.state_dict())
    for name, module in (extra or {}).items():
        save_tensors(new / f"{name}.safetensors", module.state_dict())
    flat, groups = optimizer_tensors(opt)
    save_tensors(new / "optim.safetensors", {**flat, **{f"rng.{k}": v for k, v in rng.items()}})
    write_json(new / "state.json", {**state, "param_groups": groups})  # complete from here on
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _sibling(folder: Path, suffix: str) -> Path:
    return folder.with_name(f"{folder.name}.{suffix}")


def _complete(folder: Path) -> Path | None:
    """The newest complete checkpoint: the folder, else one caught mid-swap."""
    for candidate in (folder, _sibling(folder, "new"), _sibling(folder, "old")):
        if (candidate / "state.json").exists():
            return candidate
    return None


def checkpoint_state(folder: Path) -> dict[str, Any] | None:
    """state.json of the checkpoint load_checkpoint would restore (None if there is none)."""
    found = _complete(folder)
    try:
        return read_json(found / "state.json") if found is not None else None
    except FileNotFoundError:  # swapped away while reading: ask again
        return checkpoint_state(folder)


def load_checkpoint(folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    extra: dict[str, torch.nn.Module] | None = None,
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore model, optimizer and `extra` modules in place; returns (state, rng tensors) or
    None if absent. An extra module the checkpoint lacks starts again from the model."""
    found = _complete(folder)
    if found is None:
        return None
    folder = found
    state = read_json(folder / "state.json")
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    for name, module in (extra or {}).items():
        if (folder / f"{name}.safetensors").exists():
            module.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
    tensors = load_file(str(folder / "optim.safetensors"))
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    load_optimizer(opt, {k: v for k, v in tensors.items() if not k.startswith("rng.")},
                   state.pop("param_groups"))
    return state, rng


def save_model(folder: Path, model: torch.nn.Module, config: dict[str, Any]) -> None:
    """Weights + config for inference (model.safetensors, model.json)."""
    save_tensors(folder / "model.safetensors", model.state_dict())
    write_json(folder / "model.json", config)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))
