"""A checkpoint killed at any point of its write leaves one complete checkpoint, never model
weights of one step with the optimizer state of another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from genrec.model import checkpoint as ckpt


def _trained(steps: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.ones(2, 4)).sum().backward()
        opt.step()
    return model, opt


def _save(folder: Path, steps: int) -> torch.Tensor:
    model, opt = _trained(steps)
    ckpt.save_checkpoint(folder, model, opt, {"step": steps}, {"torch": torch.get_rng_state()})
    return model.weight.detach().clone()


def _load(folder: Path) -> tuple[int, torch.Tensor]:
    model, opt = _trained(0)
    state, _ = ckpt.load_checkpoint(folder, model, opt)
    return state["step"], model.weight.detach()


def test_a_write_killed_before_its_state_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    w1 = _save(folder, 1)

    def dies(*args, **kw):
        raise KeyboardInterrupt  # killed after the new model/optimizer files, before state.json

    monkeypatch.setattr(ckpt, "write_json", dies)
    with pytest.raises(KeyboardInterrupt):
        _save(folder, 2)
    monkeypatch.undo()
    step, w = _load(folder)
    assert step == 1 and torch.equal(w, w1)


@pytest.mark.parametrize("left", ["new_and_old", "old_only"])
def test_a_swap_killed_between_renames_is_found(tmp_path, left):
    folder = tmp_path / "checkpoint"
    w1 = _save(folder, 1)
    w2 = _save(tmp_path / "other", 2)
    folder.rename(tmp_path / "checkpoint.old")  # the first rename of the swap happened
    if left == "new_and_old":
        (tmp_path / "other").rename(tmp_path / "checkpoint.new")
    step, w = _load(folder)
    assert (step, torch.equal(w, w2 if left == "new_and_old" else w1)) == (
        2 if left == "new_and_old" else 1, True)
    assert ckpt.checkpoint_state(folder)["step"] == step
    _save(folder, 3)  # the next save cleans up and lands in the folder itself
    assert _load(folder)[0] == 3 and not (tmp_path / "checkpoint.old").exists()
    shutil.rmtree(tmp_path / "checkpoint")
    assert ckpt.checkpoint_state(folder) is None
