"""A catalogue snapshot: one immutable, consistent view of a run's items (codes, active mask,
labels, serving recommender), and the errors about item ids. genrec.catalog builds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from genrec.coldstart import (
    ColdStart,
    content_cosines,
    fill_fresh,
    generation_bonus,
    new_item_bonus,
)
from genrec.errors import GenrecError
from genrec.explain import Labels
from genrec.model.recommender import Recommender


class UnknownItem(GenrecError, KeyError):
    """An id the catalogue does not hold (or no longer recommends)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ItemConflict(GenrecError, ValueError):
    """An id that is already in the catalogue."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the catalogue; never mutated after it is published."""

    version: int  # bumps on every change
    model_version: int  # bumps on every model (re)load
    item_ids: list[str]  # row -> external id; rows are never removed, only deactivated
    records: list[dict[str, Any]]  # row -> {id, title, text fields}
    row_of: dict[str, int]
    codes: np.ndarray  # int64 [N, L]
    active: np.ndarray  # bool [N]: may be recommended
    n_trained: int  # rows below this were in training
    rec: Recommender | None  # None when opened without a model
    labels: Labels | None  # None when opened without explanations
    content: np.ndarray | None = None  # float32 [N, d] unit text vectors (None: index has none)
    coldstart: ColdStart = field(default_factory=ColdStart)  # how added items are scored

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    @property
    def window(self) -> int:
        return self.rec.model.cfg.max_items if self.rec is not None else 0

    def rows(self, ids: Sequence[str], field: str) -> np.ndarray:
        """Rows of external ids; UnknownItem names the first bad one as field[i]."""
        out = np.empty(len(ids), dtype=np.int64)
        for i, item_id in enumerate(ids):
            row = self.row_of.get(str(item_id))
            if row is None:
                raise UnknownItem(f"{field}[{i}]: unknown item id {str(item_id)!r}",
                                  f"{field}[{i}]")
            out[i] = row
        return out

    def path(self, row: int) -> str | None:
        return self.labels.path(self.codes[row]) if self.labels is not None else None

    def describe(self, row: int) -> dict[str, Any]:
        rec = self.records[row]
        out = {"id": self.item_ids[row], "title": rec.get("title") or self.item_ids[row],
               "semantic_id": self.codes[row].tolist(), "active": bool(self.active[row]),
               "added": row >= self.n_trained}
        return out | ({"path": self.path(row)} if self.labels is not None else {})

    def recommend(self, histories: Sequence[np.ndarray], k: int,
                  exclude: Sequence[Sequence[int]] | None, fresh: int = 0
                  ) -> list[list[tuple[int, float]]]:
        """Top-k (row, score) per history of rows, best first; fewer when fewer items are left.

        Added items (genrec.coldstart; both ways need an index with content vectors and a
        model with an item head, else added items compete on their neighbour-mean vectors):
        fresh = 0: the beam generates them, their head logits raised by a per-user bonus;
        fresh = n > 0: the beam ranks the trained items and the user's n best added items take
        the last slots within the margin; their score is then their gate (genrec.coldstart)."""
        if self.rec is None:
            raise GenrecError("this catalogue was opened without a model")
        if not 0 <= fresh <= k:
            raise ValueError(f"fresh must be in [0, k={k}], got {fresh}")
        hists = [np.asarray(h, dtype=np.int64) for h in histories]
        new = self._new_rows
        ready = self.content is not None and self.rec.has_head
        if fresh and not ready:
            raise GenrecError("fresh slots need an index with content vectors and a model "
                              "trained with item_loss > 0")
        if not len(new) or not ready:
            res = self.rec.recommend(hists, k, exclude=exclude)
            return _pairs(res.items.tolist(), res.scores.tolist())
        assert self.content is not None
        cs, rows = self.coldstart, torch.from_numpy(new)
        if not fresh:
            bonus = generation_bonus(cs, new_item_bonus(cs, self.content, hists, new),
                                     self._new_pos, self._new_mask, rows)
            res = self.rec.recommend(hists, k, exclude=exclude, bonus=bonus)
            return _pairs(res.items.tolist(), res.scores.tolist())
        res, cand_logit, new_logit = self.rec.recommend_with_logits(
            hists, max(self.rec.beam, k), exclude, rows)
        cos, seen = content_cosines(cs, self.content, hists, new)
        for b, ex in enumerate(exclude or []):
            seen[b] |= torch.from_numpy(np.isin(new, ex))
        warm = [[(i, s, lg) for i, s, lg in zip(items, scores, logits, strict=True)
                 if 0 <= i < self.n_trained]
                for items, scores, logits in zip(res.items.tolist(), res.scores.tolist(),
                                                 cand_logit.tolist(), strict=True)]
        return fill_fresh(cs, warm, new_logit, cos, seen, new, fresh, k)

    @cached_property
    def _new_rows(self) -> np.ndarray:
        """int64 [M]: the active rows added after training."""
        return np.flatnonzero(self.active[self.n_trained :]) + self.n_trained

    @cached_property
    def _new_pos(self) -> torch.Tensor:
        """int64 [N]: row -> its column among _new_rows, -1 for the others."""
        pos = torch.full((len(self.item_ids),), -1, dtype=torch.long)
        pos[torch.from_numpy(self._new_rows)] = torch.arange(len(self._new_rows))
        return pos

    @cached_property
    def _new_mask(self) -> torch.Tensor:
        """bool [N]: the active rows added after training."""
        return self._new_pos >= 0


def _pairs(items: list[list[int]], scores: list[list[float]]) -> list[list[tuple[int, float]]]:
    return [[(int(i), float(s)) for i, s in zip(its, scs, strict=True) if i >= 0]
            for its, scs in zip(items, scores, strict=True)]
