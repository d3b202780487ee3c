"""A catalogue snapshot: one immutable, consistent view of a run's items (codes, active mask,
labels, serving recommender), and the errors about item ids. genrec.catalog builds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genrec.coldstart import fresh_scores, merge_fresh
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

        fresh > 0: up to `fresh` of the last slots go to added items ranked by genrec.coldstart
        (item head + content; see merge_fresh for when they displace a trained item), the
        others to the beam's trained items; needs a model with an item head and an index with
        content vectors."""
        if self.rec is None:
            raise GenrecError("this catalogue was opened without a model")
        hists = [np.asarray(h, dtype=np.int64) for h in histories]
        new = np.flatnonzero(self.active[self.n_trained :]) + self.n_trained
        if not fresh or not len(new):
            res = self.rec.recommend(hists, k, exclude=exclude)
            return _pairs(res.items.tolist(), res.scores.tolist())
        if not 0 < fresh <= k:
            raise ValueError(f"fresh must be in [0, k={k}], got {fresh}")
        if self.content is None or self.rec.model.cfg.item_loss <= 0:
            raise GenrecError("fresh slots need an index with content vectors and a model "
                              "trained with item_loss > 0")
        res, head = self.rec.recommend_with_item_log_probs(hists, max(self.rec.beam, k),
                                                           exclude=exclude)  # head [B, N]
        warm = [[(i, s) for i, s in row if i < self.n_trained]
                for row in _pairs(res.items.tolist(), res.scores.tolist())]
        picks = self._fresh(head, hists, new, fresh, exclude)
        return [merge_fresh(w, p, head[b], k)
                for b, (w, p) in enumerate(zip(warm, picks, strict=True))]

    def _fresh(self, head: torch.Tensor, hists: list[np.ndarray], new: np.ndarray, n: int,
               exclude: Sequence[Sequence[int]] | None) -> list[list[tuple[int, float]]]:
        """The n best added items per history by genrec.coldstart.fresh_scores."""
        score = fresh_scores(head, self.content, hists, new)  # [B, M]
        for b, ex in enumerate(exclude or []):
            score[b, torch.from_numpy(np.isin(new, ex))] = float("-inf")
        top = torch.topk(score, min(n, len(new)), dim=1)
        rows = torch.from_numpy(new)[top.indices]
        return [[(r, s) for r, s in pair if s > float("-inf")]
                for pair in (zip(a, b, strict=True) for a, b in zip(
                    rows.tolist(), top.values.tolist(), strict=True))]


def _pairs(items: list[list[int]], scores: list[list[float]]) -> list[list[tuple[int, float]]]:
    return [[(int(i), float(s)) for i, s in zip(its, scs, strict=True) if i >= 0]
            for its, scs in zip(items, scores, strict=True)]
