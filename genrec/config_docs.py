"""docs/config.md from the config dataclasses: every key, its default and its comment.

    python -m genrec.config_docs > docs/config.md
"""

from __future__ import annotations

import dataclasses
import inspect
import re

from genrec.config import DERIVED


def field_docs(kind: type) -> dict[str, str]:
    """Each field's comment in `kind`'s source (continuation comment lines appended)."""
    out: dict[str, str] = {}
    last = None
    for line in inspect.getsource(kind).splitlines():
        m = re.match(r"    (\w+)\s*:[^#]*?(?:#\s*(.*))?$", line)
        if m and m.group(1) in {f.name for f in dataclasses.fields(kind)}:
            last = m.group(1)
            out[last] = (m.group(2) or "").strip()
            continue
        c = re.match(r"    \s*#\s*(.*)$", line)
        if c and last is not None:
            out[last] = f"{out[last]} {c.group(1).strip()}".strip()
        elif line.strip():
            last = None
    return out


# meanings of fields whose source line carries no comment (a comment there wins)
PLAIN = {"seed": "random seed", "encoder_layers": "Transformer encoder layers",
         "decoder_layers": "Transformer decoder layers", "dropout": "dropout probability",
         "weight_decay": "AdamW weight decay (matrices only)",
         "min_lr_ratio": "the cosine schedule ends at lr * min_lr_ratio",
         "grad_clip": "gradient norm clipping"}


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def sections() -> list[tuple[str, type, str]]:
    """(TOML section, dataclass, what it is for) in the order a config file lists them."""
    from genrec.data.spec import DataConfig
    from genrec.model import ModelConfig
    from genrec.model.train import TrainConfig
    from genrec.run import EvalConfig, RunConfig
    from genrec.semantic_ids import IndexConfig

    return [("", RunConfig, "Top level: where the data is and how many threads."),
            ("data", DataConfig, "Your own files instead of `dataset` (the same as "
             "`genrec run --interactions FILE --items FILE`)."),
            ("index", IndexConfig, "Semantic IDs."),
            ("model", ModelConfig, "The Transformer. `preset = \"tiger\"` goes here too: it "
             "sets TIGER's sizes (Rajput et al. 2023), and keys given beside it override them."),
            ("train", TrainConfig, "Training."),
            ("eval", EvalConfig, "Evaluation and the defaults of `recommend` and `serve`.")]


def reference() -> str:
    """docs/config.md: every key of every section, its default and its meaning."""
    lines = ["# Run config reference", "",
             "Generated from the config dataclasses by `python -m genrec.config_docs > "
             "docs/config.md`; `tests/test_config.py` fails when it is out of date.", "",
             "A run config is a TOML file: top-level keys, then sections. It needs `dataset` "
             "(a staged benchmark or a raw Amazon folder) or a `[data]` section with "
             "`interactions` (your own files); every other key has a default. Wrong types and "
             "impossible values stop the run before any work, with the key named.", "",
             "```toml", 'dataset = "movielens-100k"', "[index]", 'method = "rkmeans"',
             "[model]", 'preset = "tiger"   # optional', "d_model = 128", "[train]",
             "epochs = 20", "```", ""]
    nested = {"index", "model", "train", "eval", "data"}
    for section, kind, what in sections():
        docs = field_docs(kind)
        lines += [f"## {f'[{section}]' if section else 'top level'}", "", what, "",
                  "| key | default | meaning |", "|---|---|---|"]
        if section == "model":
            lines.append("| `preset` | (none) | `\"tiger\"`: TIGER's model sizes as the base |")
        for f in dataclasses.fields(kind):
            if f.name in nested or f.name in DERIVED.get(kind.__name__, ()):
                continue
            meaning = (docs.get(f.name) or PLAIN.get(f.name, "")).replace("|", "\\|") or "—"
            lines.append(f"| `{f.name}` | `{_default(f)}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference(), end="")
