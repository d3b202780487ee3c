"""New items, which no user has interacted with yet: how the model reads and ranks them.

A new item gets what the trained model can give it (TIGER's cold-start recipe, LIGER's dense
view of it):

- codes from the frozen quantizer, so it sits in the trie under the prefix of its nearest
  semantic neighbours and the decoder's beam can generate it;
- an item-head vector: the mean of the full vectors of its `neighbours` nearest trained items by
  content, so the head scores it as it scores the items it most resembles;
- a ranking among new items, per user: head logit + `content_weight` times the cosine between
  the item's text vector and the user's content query (the last `recent` history items' text
  vectors weighted `decay` ** age, the newest weighing 1).

Two ways to show them:

- generation (a list with no cap, `fresh = 0`): the beam generates new items like any item;
  where the head scores them (item-aware leaves, re-scoring) their logit gets a per-user
  bonus, `bias` minus `content_weight` times how far their cosine falls short of an anchor:
  the user's best new item's cosine (`anchor_best = 1`) or a perfect match (`anchor_best =
  0`), which leaves users whose history resembles no new item as they were. The decoder
  never learned a new item's mass, so its first code may lie outside the beam's: the beam
  also expands the first codes of the user's `expand` best new items and scores everything
  below them as usual. With `apart = 1` a new item is scored against its prefix's trained
  items without joining their softmax normaliser, so the trained items keep exactly the
  scores they had before it was added (new items still take leaf budget): a bonus then
  moves new items up without pushing their trained siblings below other prefixes' items;
  their whole beam score then becomes `scale` x score + `offset` (a calibration: a score the
  model never learned carries less than its spread suggests).
- fresh slots (`fresh = n`, TIGER's epsilon): the beam ranks the trained items; the user's n
  best new items then take the last slots, each while its gate (head logit, less
  `gate_content` times how far its cosine falls short of 1) is within `margin` nats of the
  logit of the trained item it would push out. Only the new items' vectors are read.

Every constant is chosen on validation users by `benchmarks/coldstart.py select` (never on
test users) and recorded under `selection` in benchmarks/results/coldstart.json; the
defaults here are Beauty's choice, and a test keeps them equal.
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
from genrec.model.recommender import Bonus

CONTENT_FILE = "content.npy"  # float16 [n_items, d] unit text vectors, beside the index


@dataclass(frozen=True)
class ColdStart:
    """How new items are scored (see the module docstring); chosen on validation."""

    neighbours: int = 5  # trained items (nearest by content) whose mean vector a new item takes
    recent: int = 2  # history items in the user's content query
    decay: float = 0.75  # weight of a history item per step of age in that query
    content_weight: float = 32.0  # nats per unit of cosine between query and new item
    bias: float = 3.375  # generation: nats added to a new item whose cosine reaches the anchor
    anchor_best: float = 1.0  # generation: the bonus's anchor, 1: the user's best new match
    #   (every user's best new item gains `bias`), 0: cosine 1 (only close matches gain, so a
    #   user whose history matches no new item is left alone); between: a mix of the two
    expand: int = 5  # generation: the beam also expands the first codes of the user's
    #                  `expand` best new items (see Bonus.expand)
    apart: int = 1  # generation: 1: new items stay out of their prefix's leaf normaliser (their
    #                 trained siblings keep their scores), 0: they join it
    scale: float = 0.3  # generation, apart = 1: a new item's beam score (log p of its prefix
    #   + its leaf log-prob, bonus included) becomes scale * score + offset; a scale below 1
    #   pulls the scores of items the model never learned towards one level, so they land
    #   mid-list rather than on top for some users and nowhere for others (re-scoring then adds
    #   item_weight x the head logit, bonus included, as for any item)
    offset: float = -3.375  # generation, apart = 1: see scale
    margin: tuple[float, ...] = (18.0, 5.5)  # fresh slots: a pick displaces a trained item
    #   while its gate (head logit + gate_content * (cosine - 1)) is within margin[n - 1] nats
    #   of that item's logit, for a cap of n (the last entry serves larger caps)
    gate_content: tuple[float, ...] = (32.0, 8.0)  # fresh slots: the gate's content weight
    #   per cap (empty: 0, the head logit alone)

    def margin_for(self, slots: int) -> float:
        return _per_cap(self.margin, slots, float("inf"))

    def gate_for(self, slots: int) -> float:
        return _per_cap(self.gate_content, slots, 0.0)


def _per_cap(values: tuple[float, ...], slots: int, empty: float) -> float:
    """values[slots - 1], the last entry for larger caps; `empty` when there are none."""
    return values[min(slots, len(values)) - 1] if values else empty


COLDSTART_FILE = "coldstart.json"  # a run's own ColdStart, beside its config


def load_coldstart(run_dir: str | Path) -> ColdStart:
    """The run's coldstart.json when it has one, else the defaults."""
    path = Path(run_dir) / COLDSTART_FILE
    if not path.exists():
        return ColdStart()
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError("want a JSON object of ColdStart fields", path=path)
    names = {f.name for f in fields(ColdStart)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise DataError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})",
                        path=path)
    for key, value in raw.items():
        numbers = value if isinstance(value, list) else [value]
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
            raise DataError(f"{key}: want a number or a list of numbers, got {value!r}",
                            path=path)
    if raw.get("scale", 1.0) <= 0:
        raise DataError(f"scale: want a number > 0, got {raw['scale']!r}", path=path)
    if raw.get("apart", 0) not in (0, 1):
        raise DataError(f"apart: want 0 or 1, got {raw['apart']!r}", path=path)
    return coldstart_from_dict(raw)


def coldstart_from_dict(raw: dict) -> ColdStart:
    """A ColdStart from its recorded fields (lists read as tuples). A record from before 0.7
    has no `apart`: its constants were chosen with new items inside the normaliser, so 0."""
    raw = {"apart": 0} | raw
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


def content_cosines(cs: ColdStart, content: np.ndarray, histories: Sequence[np.ndarray],
                    new_rows: np.ndarray) -> tuple[Tensor, Tensor]:
    """(cosine [B, M] of each user's content query with each new row, seen [B, M]: the new
    rows already in the history, which are never recommended)."""
    query = unit(np.stack([content_query(content, h, cs.recent, cs.decay) for h in histories]))
    cos = torch.from_numpy(query) @ torch.from_numpy(content[new_rows]).T  # in [-1, 1]
    seen = torch.from_numpy(np.stack([np.isin(new_rows, h) for h in histories]))
    return cos, seen


def new_item_bonus(cs: ColdStart, content: np.ndarray, histories: Sequence[np.ndarray],
                   new_rows: np.ndarray) -> Tensor:
    """float32 [B, M]: nats added to each new row's head logit when the beam generates it."""
    cos, seen = content_cosines(cs, content, histories, new_rows)
    best = cos.masked_fill(seen, -1.0).max(1, keepdim=True).values  # [B, 1]
    anchor = cs.anchor_best * best + (1.0 - cs.anchor_best)  # [B, 1]
    return cs.bias - cs.content_weight * (anchor - cos)


def generation_bonus(cs: ColdStart, value: Tensor, pos: Tensor, is_new: Tensor, rows: Tensor
                     ) -> Bonus:
    """The Bonus the beam reads when it generates new items: value [B, M] (new_item_bonus),
    pos [N] (row -> column of value, -1 for trained rows), is_new bool [N] (pos >= 0, kept by
    the caller so that no query recomputes it over the catalogue), rows [M] the new rows."""
    return Bonus(pos, value, rows, cs.expand, is_new if cs.apart else None, cs.scale, cs.offset)


def fresh_picks(cs: ColdStart, logit: Tensor, cos: Tensor, seen: Tensor, n: int
                ) -> tuple[Tensor, Tensor]:
    """Each user's n best new rows by head logit + content_weight * cosine: (columns [B, n]
    into the new rows, -1 where fewer are left; their gates [B, n], head logit +
    gate_content * (cosine - 1), which merge_fresh compares with the displaced logit)."""
    score = (logit + cs.content_weight * cos).masked_fill(seen, float("-inf"))
    top = torch.topk(score, min(n, score.shape[1]), dim=1)
    cols = torch.where(top.values > float("-inf"), top.indices, -1)
    gate = logit + cs.gate_for(n) * (cos - 1)
    return cols, gate.gather(1, top.indices)


def merge_fresh(warm: list[tuple[int, float, float]], picks: list[tuple[int, float]],
                margin: float, k: int) -> list[tuple[int, float]]:
    """Top-k (row, score): the trained items (row, score, head logit; best first), then the
    fresh picks (row, head logit; best first), each displacing the last trained item left
    while its logit is within `margin` nats of that item's; a short list takes them freely."""
    keep, taken = list(warm[:k]), []
    for row, logit in picks:
        if len(keep) + len(taken) < k:
            taken.append((row, logit))
        elif keep and logit + margin >= keep[-1][2]:
            keep.pop()
            taken.append((row, logit))
        else:
            break
    return [(r, s) for r, s, _ in keep] + taken


def fill_fresh(cs: ColdStart, warm: list[list[tuple[int, float, float]]], logit: Tensor,
               cos: Tensor, seen: Tensor, new_rows: np.ndarray, slots: int, k: int
               ) -> list[list[tuple[int, float]]]:
    """Per user, the top-k with up to `slots` fresh slots: the beam's trained items (row,
    score, head logit) and the new rows' logits, cosines and seen flags [B, M]."""
    cols, gate = fresh_picks(cs, logit, cos, seen, slots)
    margin = cs.margin_for(slots)
    return [merge_fresh(w, [(int(new_rows[c]), g) for c, g in zip(cs_, gs, strict=True)
                            if c >= 0], margin, k)
            for w, cs_, gs in zip(warm, cols.tolist(), gate.tolist(), strict=True)]
