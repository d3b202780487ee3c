"""New items, which no user has interacted with yet: how the model reads and ranks them.

A new item gets what the trained model can give it (TIGER's cold-start recipe, LIGER's dense
view of it):

- codes from the frozen quantizer, so it sits in the trie under the prefix of its nearest
  semantic neighbours and the decoder's beam can generate it;
- an item-head vector: the mean of the full vectors of its `neighbours` nearest trained items by
  content, so the head scores it as it scores the items it most resembles;
- per user, a bonus added to its head logit wherever the model scores it (the beam's leaves and
  the re-scoring): `bias` nats plus `content_weight` times the cosine between the item's text
  vector and the user's content query (the last `recent` history items' text vectors weighted
  `decay` ** age; the newest weighs 1). A negative bias means a new item must beat the trained
  item it would displace by that many nats.

A list may cap how many new items it shows (TIGER's epsilon): `slots` new items at most, with
`slot_bias[slots - 1]` as the bias (fewer slots can afford a bolder bias). Every constant is
chosen on validation users by `benchmarks/coldstart.py select` (never on test users) and
recorded under `selection` in benchmarks/results/coldstart.json; the defaults here are
Beauty's choice, and a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genrec.errors import DataError
from genrec.io import read_json, read_npy, write_json, write_npy

CONTENT_FILE = "content.npy"  # float16 [n_items, d] unit text vectors, beside the index


@dataclass(frozen=True)
class ColdStart:
    """How new items are scored (see the module docstring); chosen on validation."""

    neighbours: int = 5  # trained items (nearest by content) whose mean vector a new item takes
    recent: int = 5  # history items in the user's content query
    decay: float = 0.5  # weight of a history item per step of age in that query
    content_weight: float = 0.0  # nats per unit of cosine between query and new item
    bias: float = 0.0  # nats added to every new item when the list shows any number of them
    slot_bias: tuple[float, ...] = ()  # bias when at most 1, 2, ... new items are shown
    #                                    (the last entry serves any larger cap; empty: bias)

    def bias_for(self, slots: int) -> float:
        """The bias for a list showing at most `slots` new items (0: no cap)."""
        if slots <= 0 or not self.slot_bias:
            return self.bias
        return self.slot_bias[min(slots, len(self.slot_bias)) - 1]


COLDSTART_FILE = "coldstart.json"  # a run's own ColdStart, beside its config


def load_coldstart(run_dir: str | Path) -> ColdStart:
    """The run's coldstart.json when it has one, else the defaults."""
    path = Path(run_dir) / COLDSTART_FILE
    if not path.exists():
        return ColdStart()
    raw = read_json(path)
    names = {f.name for f in fields(ColdStart)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise DataError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})",
                        path=path)
    return ColdStart(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def save_coldstart(run_dir: str | Path, cs: ColdStart) -> None:
    write_json(Path(run_dir) / COLDSTART_FILE, asdict(cs))


def save_content(index_dir: str | Path, vectors: np.ndarray) -> None:
    """Unit-normalised float16 copy of the item vectors the index was built from."""
    write_npy(Path(index_dir) / CONTENT_FILE, unit(np.asarray(vectors)).astype(np.float16))


def load_content(index_dir: str | Path, n_items: int) -> np.ndarray | None:
    """float32 [n_items, d] unit vectors, or None for an index saved without them."""
    path = Path(index_dir) / CONTENT_FILE
    if not path.exists():
        return None
    try:
        vecs = read_npy(path)
    except (ValueError, OSError, EOFError) as e:  # truncated or not an .npy file
        raise DataError(f"unreadable content vectors ({e})", path=path) from e
    if vecs.ndim != 2 or len(vecs) != n_items:
        raise DataError(f"content vectors have shape {vecs.shape}, want one row per item "
                        f"({n_items} items)", path=path)
    return vecs.astype(np.float32)


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def neighbour_rows(new: np.ndarray, trained: np.ndarray, k: int) -> np.ndarray:
    """int64 [M, k]: the k trained rows nearest (cosine) to each new unit vector [M, d]."""
    sims = new @ trained.T  # [M, T]
    k = min(k, trained.shape[0])
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def content_query(content: np.ndarray, history: np.ndarray, recent: int, decay: float
                  ) -> np.ndarray:
    """The user's content query [d]: the last `recent` history rows' vectors, weighted
    decay ** age (the newest weighs 1). content: unit vectors [N, d]."""
    rows = np.asarray(history, dtype=np.int64)[-recent:] if recent > 0 else history[:0]
    weights = decay ** np.arange(len(rows))[::-1]
    return (weights[:, None] * content[rows]).sum(0).astype(np.float32)


def new_item_bonus(cs: ColdStart, content: np.ndarray, histories: Sequence[np.ndarray],
                   new_rows: np.ndarray, slots: int = 0) -> Tensor:
    """float32 [B, M]: nats added to each new row's head logit [M] for each history (rows)."""
    query = np.stack([content_query(content, h, cs.recent, cs.decay) for h in histories])
    cos = torch.from_numpy(query) @ torch.from_numpy(content[new_rows]).T  # [B, M]
    return cs.bias_for(slots) + cs.content_weight * cos


def cap_new(items: list[list[tuple[int, float]]], is_new: np.ndarray, slots: int, k: int
            ) -> list[list[tuple[int, float]]]:
    """Per list (best first), the first k entries with at most `slots` new rows (0: no cap)."""
    out = []
    for lst in items:
        kept, shown = [], 0
        for row, score in lst:
            if slots and is_new[row]:
                if shown >= slots:
                    continue
                shown += 1
            kept.append((row, score))
            if len(kept) == k:
                break
        out.append(kept)
    return out
