"""New items, which no user has interacted with yet: how the model reads and ranks them.

Generative retrieval alone is weak here: a new item's last code token sits under its prefix
in a slot the decoder never saw, so the beam rarely reaches it (the TIGER paper's cold-start
caveat; LIGER, Yang et al. 2024, makes the same finding). genrec therefore ranks new items
with two signals the trained model does have, and gives them a capped number of list slots
(TIGER's epsilon) instead of asking the beam to find them:

- the item head (models trained with item_loss): a new item's output vector is the mean of
  the vectors of its `NEIGHBOURS` nearest trained items by content, so the model scores it as
  it scores the items it most resembles;
- content similarity: the item's text embedding against the user's last `RECENT` items'
  embeddings, weighted `DECAY` ** age (the newest item weighs 1): a recency-weighted
  content-KNN signal.

Each signal is standardised per user over the new items and mixed, `HEAD_SHARE` of the head.
A fresh pick then takes a slot only while its item-head log-probability is within
`FRESH_MARGIN` nats of the trained item it would push out (the last one left in the list), so
users whom the model sees as far from every new item keep their in-catalogue list.
The constants were chosen on *validation* users of benchmarks/coldstart.py (target: the
second-to-last item), never on the test users; see docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genrec.errors import DataError
from genrec.io import read_npy, write_npy

CONTENT_FILE = "content.npy"  # float16 [n_items, d] unit text vectors, beside the index
NEIGHBOURS = 5  # trained items whose mean vector a new item takes
RECENT = 5  # history items that make the user's content query
DECAY = 0.5  # weight of a history item per step of age in that query
HEAD_SHARE = 0.3  # weight of the item head in the fresh-item score (content: the rest)
FRESH_MARGIN = 4.0  # nats: how far below a displaced trained item a fresh pick may score


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


def neighbour_rows(new: np.ndarray, trained: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """int64 [M, k]: the k trained rows nearest (cosine) to each new unit vector [M, d]."""
    sims = new @ trained.T  # [M, T]
    k = min(k, trained.shape[0])
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def fresh_scores(head_logp: Tensor, content: np.ndarray, histories: list[np.ndarray],
                 candidates: np.ndarray) -> Tensor:
    """Scores float32 [B, M] of the candidate rows [M] for each history.

    head_logp: the item head's log p over the catalogue [B, N]; content: unit vectors [N, d].
    """
    cand = torch.from_numpy(content[candidates])  # [M, d]
    query = torch.from_numpy(np.stack([_query(content[h[-RECENT:]]) for h in histories]))
    sim = query @ cand.T  # [B, M]
    head = head_logp[:, torch.from_numpy(candidates)].float()
    return HEAD_SHARE * _standard(head) + (1 - HEAD_SHARE) * _standard(sim)


def merge_fresh(warm: list[tuple[int, float]], picks: list[tuple[int, float]],
                head_logp: Tensor, k: int) -> list[tuple[int, float]]:
    """Top-k (row, score): trained items first, then the fresh picks (best first) that pass
    the margin, each displacing the last trained item left; head_logp [N] for this user."""
    keep, taken = list(warm[:k]), []
    for row, score in picks:
        if len(keep) + len(taken) < k:  # room without displacing anything
            taken.append((row, score))
        elif keep and head_logp[row] + FRESH_MARGIN >= head_logp[keep[-1][0]]:
            keep.pop()
            taken.append((row, score))
        else:
            break
    return keep + taken


def _query(recent: np.ndarray) -> np.ndarray:
    """Recency-weighted sum of the recent items' vectors [n, d] (oldest first) -> [d]."""
    weights = DECAY ** np.arange(len(recent))[::-1]
    return (weights[:, None] * recent).sum(0).astype(np.float32)


def _standard(x: Tensor) -> Tensor:
    """Per row: zero mean, unit variance (a constant row becomes zeros)."""
    return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True, unbiased=False) + 1e-6)
