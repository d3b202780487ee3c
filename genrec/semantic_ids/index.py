"""SemanticIndex: every item's code tuple, the vocabulary layout, and the numbers behind it.

Saved as plain files in one folder: `index.json` (method, layout, statistics, the config that
made it), `codes.npy` (int64 [n_items, levels]), `item_ids.json`, and optionally
`quantizer.safetensors` (the frozen quantizer, to code new items without retraining).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrec.io import read_json, read_npy, write_json, write_npy


def disambiguate(raw: np.ndarray, order_key: np.ndarray | None = None) -> np.ndarray:
    """Append a last token 0, 1, 2, ... to items sharing a full code, so every tuple is unique.

    raw: int64 [n, L0]; order_key: float [n], who gets 0 first inside a group (default: item
    index). Returns int64 [n, L0 + 1].
    """
    n = len(raw)
    key = np.arange(n) if order_key is None else order_key
    _, group = np.unique(raw, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.lexsort((np.arange(n), key, group))  # by group, then key, then index
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    rank_sorted = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    return np.concatenate([raw, rank[:, None]], axis=1).astype(np.int64)


def code_stats(codes: np.ndarray, codebook_sizes: list[int]) -> dict[str, Any]:
    """Collision rate, per-level usage and crowding of the codes before the last token."""
    raw = codes[:, :-1]
    _, inverse, counts = np.unique(raw, axis=0, return_inverse=True, return_counts=True)
    per_item = counts[inverse.reshape(-1)]
    usage = [
        round(len(np.unique(raw[:, lvl])) / codebook_sizes[lvl], 4) for lvl in range(raw.shape[1])
    ]
    return {
        "collision_rate": round(float((per_item > 1).mean()), 4),
        "usage": usage,
        "max_items_per_code": int(counts.max()),
        "items_per_code_hist": np.bincount(counts).tolist(),
        "max_disambiguation": int(codes[:, -1].max()),
    }


@dataclass
class SemanticIndex:
    """Item i <-> tuple codes[i]. Token at level l lies in [0, level_sizes[l])."""

    method: str
    codes: np.ndarray  # int64 [n_items, levels]; last level = disambiguation token
    level_sizes: list[int]  # vocabulary size per level (last: disambiguation tokens in use)
    item_ids: list[str]  # external id of item i
    codebook_size: int  # K of the quantizer levels
    config: dict[str, Any] = field(default_factory=dict)  # what made it (method options, seed)
    stats: dict[str, Any] = field(default_factory=dict)  # code_stats() + seconds
    vocab: list[str] | None = None  # token strings, for word-level IDs (title)
    shared_vocab: bool = False  # all levels but the last share one token space (title IDs)

    @property
    def n_items(self) -> int:
        return len(self.codes)

    @property
    def levels(self) -> int:
        return int(self.codes.shape[1])

    def tuple_of(self, item: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.codes[item])

    def item_of(self, code: tuple[int, ...]) -> int | None:
        if not hasattr(self, "_lookup"):
            self._lookup = {tuple(int(c) for c in row): i for i, row in enumerate(self.codes)}
        return self._lookup.get(tuple(int(c) for c in code))

    def summary(self) -> dict[str, Any]:
        """The fields of index.json, statistics first-class."""
        s = {k: v for k, v in self.stats.items() if k != "items_per_code_hist"}
        return {
            "method": self.method,
            "n_items": self.n_items,
            "levels": self.levels,
            "codebook_size": self.codebook_size,
            "level_sizes": self.level_sizes,
            **s,
            "shared_vocab": self.shared_vocab,
            "items_per_code_hist": self.stats.get("items_per_code_hist", []),
            "config": self.config,
        }

    def save(self, out: str | Path) -> None:
        out = Path(out)
        write_npy(out / "codes.npy", self.codes)
        write_json(out / "item_ids.json", self.item_ids)
        if self.vocab is not None:
            write_json(out / "vocab.json", self.vocab)
        write_json(out / "index.json", self.summary())  # last: its presence marks completion

    @classmethod
    def load(cls, path: str | Path) -> SemanticIndex:
        path = Path(path)
        meta = read_json(path / "index.json")
        stats = {
            k: meta[k]
            for k in ("collision_rate", "usage", "max_items_per_code", "items_per_code_hist",
                      "max_disambiguation", "seconds", "fit_seconds", "assign_seconds")
            if k in meta
        }
        vocab_file = path / "vocab.json"
        return cls(
            method=meta["method"],
            codes=read_npy(path / "codes.npy"),
            level_sizes=list(meta["level_sizes"]),
            item_ids=[str(x) for x in read_json(path / "item_ids.json")],
            codebook_size=int(meta["codebook_size"]),
            config=meta.get("config", {}),
            stats=stats,
            vocab=read_json(vocab_file) if vocab_file.exists() else None,
            shared_vocab=bool(meta.get("shared_vocab", False)),
        )
