"""The cold-start benchmark's engine: one Recommender whose catalogue holds trained and new rows,
with the users' encodings cached, so that each candidate setting of genrec.coldstart costs one
decode (leaves + re-scoring) and no encoder pass. It calls the same Recommender._search and
genrec.coldstart functions as Snapshot.recommend; benchmarks/coldstart.py checks the two give
the same lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genrec.coldstart import (
    ColdStart,
    content_cosines,
    content_query,
    fill_fresh,
    generation_bonus,
    new_item_bonus,
    unit,
)
from genrec.evaluate import ranking_metrics
from genrec.io import progress
from genrec.model.recommender import Recommender

BATCH = 256
K = 10


@dataclass
class Users:
    """Whom a reading is about: histories (catalogue rows, oldest first) and next items."""

    hists: list[np.ndarray]
    targets: np.ndarray  # int64 [U] catalogue rows

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, n: int, seed: int = 0) -> Users:
        """A random sample of n users (all when n >= len)."""
        if n >= len(self):
            return self
        pick = np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False))
        return Users([self.hists[i] for i in pick], self.targets[pick])


# value [B, M] of the bonus for a batch: (cs, histories, head logits of the new rows [B, M])
BonusFn = Callable[[ColdStart, list[np.ndarray], Tensor], Tensor]


class Harness:
    def __init__(self, rec: Recommender, content: np.ndarray, is_new: np.ndarray) -> None:
        """rec: serves every row (trained and new); content: unit text vectors [N, d];
        is_new: bool [N], the rows no training sequence held."""
        self.rec, self.content, self.is_new = rec, content, is_new
        assert rec.has_head, "cold start needs an item head"
        self.table0 = rec.item_vectors(torch.arange(len(is_new)))  # [N, d] as built
        self.new_rows = np.flatnonzero(is_new)  # [M]
        self.base_rows = np.flatnonzero(~is_new)  # [T]: the neighbours' pool
        self.rows_t = torch.from_numpy(self.new_rows)
        self.pos = torch.full((len(is_new),), -1, dtype=torch.long)
        self.pos[torch.from_numpy(self.new_rows)] = torch.arange(len(self.new_rows))
        self.new_mask = self.pos >= 0  # bool [N]
        sims = content[self.new_rows] @ content[self.base_rows].T  # [M, T]
        self.near = self.base_rows[np.argsort(-sims, axis=1, kind="stable")[:, :64]]  # [M, 64]
        self.active = rec.constraint
        self.inactive_new = rec.constraint.with_active(~is_new)
        self._cache: dict[Any, Any] = {}

    def set_neighbours(self, k: int) -> None:
        """New rows' output vectors: the mean of their k content-nearest trained rows'."""
        near = torch.from_numpy(self.near[:, :k])
        self.rec.set_item_vectors(self.rows_t, self.table0[near].mean(1))

    def encodings(self, users: Users) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(memory, positions, head state) per batch of BATCH users, computed once."""
        key = id(users)  # the cache keeps `users` alive (below), so its id stays its own
        if key not in self._cache:
            out = []
            with torch.no_grad():
                for lo in progress(range(0, len(users), BATCH), "encode",
                                   -(-len(users) // BATCH)):
                    mem, mem_pos = self.rec._encode(users.hists[lo : lo + BATCH])
                    out.append((mem, mem_pos, self.rec._state(mem, mem_pos)))
            self._cache[key] = out
            self._cache["alive", key] = users
        return self._cache[key]

    def head_logits_new(self, users: Users) -> Tensor:
        """float32 [U, M]: the head's logit of every new row for every user."""
        table = self.rec.item_vectors(self.rows_t)
        return torch.cat([state @ table.T for _, _, state in self.encodings(users)])

    def trained_logits(self, users: Users) -> Tensor:
        """float32 [U, T]: the head's logit of every trained (base) row."""
        table = self.table0[torch.from_numpy(self.base_rows)]
        return torch.cat([state @ table.T for _, _, state in self.encodings(users)])

    @torch.no_grad()
    def lists(self, users: Users, cs: ColdStart | None, bonus_fn: BonusFn | None = None
              ) -> dict[str, np.ndarray]:
        """Generation (no cap): per user `shipped` [U, 10] (re-scored) and `beam` [U, 20] (the
        beam's own order). cs None: new rows cannot be shown (the reading before adding)."""
        self.rec.constraint = self.active if cs is not None else self.inactive_new
        shipped, beam = [], []
        try:
            batches = self.encodings(users)
            for b, (mem, mem_pos, state) in enumerate(progress(batches, "lists", len(batches))):
                hists = users.hists[b * BATCH : (b + 1) * BATCH]
                bonus = None
                if cs is not None:
                    value = (bonus_fn or self.genrec_bonus())(cs, hists, self._new_logits(state))
                    bonus = generation_bonus(cs, value, self.pos, self.new_mask, self.rows_t)
                excl = [h.tolist() for h in hists]
                top, cand = self.rec._search(mem, mem_pos, state, K, excl, True, bonus)
                shipped.append(top.items.numpy())
                beam.append(cand.plain().items[:, :20].numpy())  # the beam's own order
        finally:
            self.rec.constraint = self.active
        return {"shipped": np.concatenate(shipped), "beam": np.concatenate(beam)}

    @torch.no_grad()
    def fresh_base(self, users: Users) -> dict[str, Any]:
        """What fresh slots start from, as Snapshot.recommend computes it: per user the beam's
        trained items (row, score, head logit), best first, and the new rows' logits [U, M]."""
        key = ("fresh", id(users))
        if key not in self._cache:
            warm, logits = [], []
            for b, (mem, mem_pos, state) in enumerate(self.encodings(users)):
                hists = users.hists[b * BATCH : (b + 1) * BATCH]
                top, _ = self.rec._search(mem, mem_pos, state, self.rec.beam,
                                          [h.tolist() for h in hists], True)
                head = self.rec.head_logits(state, top.items)
                for items, scores, lg in zip(top.items.tolist(), top.scores.tolist(),
                                             head.tolist(), strict=True):
                    warm.append([(i, s, g) for i, s, g in zip(items, scores, lg, strict=True)
                                 if i >= 0 and not self.is_new[i]])
                logits.append(self._new_logits(state))
            self._cache[key] = {"warm": warm, "logits": torch.cat(logits)}
            self._cache["alive", id(users)] = users
        return self._cache[key]  # type: ignore[return-value]

    def trained_lists(self, users: Users) -> np.ndarray:
        """[U, beam]: the trained items fresh slots start from (rows only)."""
        return _pad([[r for r, _, _ in w] for w in self.fresh_base(users)["warm"]],
                    self.rec.beam)

    def fresh_lists(self, users: Users, cs: ColdStart, slots: int, rank: str = "genrec"
                    ) -> np.ndarray:
        """[U, 10] with up to `slots` fresh slots (genrec.coldstart.merge_fresh); rank: the
        new items' order: "genrec" (head + content), "head" (head alone), "content"."""
        base = self.fresh_base(users)
        cos, seen = content_cosines(cs, self.content, users.hists, self.new_rows)
        order = {"genrec": cs, "head": replace(cs, content_weight=0.0),
                 "content": replace(cs, content_weight=1e6)}[rank]
        lists = fill_fresh(order, base["warm"], base["logits"], cos, seen, self.new_rows, slots,
                           K)
        out = [[r for r, _ in lst] for lst in lists]
        return _pad(out, K)

    def _new_logits(self, state: Tensor) -> Tensor:
        return state @ self.rec.item_vectors(self.rows_t).T  # [B, M]

    # --- the bonus variants the benchmark compares -----------------------------------------
    def genrec_bonus(self) -> BonusFn:
        """The shipped bonus: genrec.coldstart.new_item_bonus over this harness's new rows."""
        content, new_rows = self.content, self.new_rows

        def fn(cs: ColdStart, hists: list[np.ndarray], logit: Tensor) -> Tensor:
            return new_item_bonus(cs, content, hists, new_rows)

        return fn

def query_scores(content: np.ndarray, hists: list[np.ndarray], cand: np.ndarray, recent: int,
                 decay: float, agg: str) -> np.ndarray:
    """float32 [U, M]: content-KNN scores of candidate rows: the recency-weighted sum of
    cosines to the last `recent` history items ('sum'; 'cos': the cosine with that weighted
    query, genrec's content term) or their weighted maximum ('max')."""
    if agg in ("sum", "cos"):  # the same ranking; "cos" divides by the query's norm
        query = np.stack([content_query(content, h, recent, decay) for h in hists])
        if agg == "cos":
            query = unit(query)
        return query @ content[cand].T
    out = np.full((len(hists), len(cand)), -np.inf, dtype=np.float32)
    for u, h in enumerate(hists):
        rows = h[-recent:]
        w = decay ** np.arange(len(rows))[::-1]
        out[u] = (w[:, None] * (content[rows] @ content[cand].T)).max(0)
    return out


def top_new(score: np.ndarray, cand: np.ndarray, hists: list[np.ndarray], n: int,
            with_scores: bool = False) -> Any:
    """int64 [U, n]: the n best candidate rows per user by score [U, M], history excluded
    (and their scores [U, n] with with_scores)."""
    score = score.copy()
    for u, h in enumerate(hists):
        score[u, np.isin(cand, h)] = -np.inf
    order = np.argsort(-score, axis=1, kind="stable")[:, :n]
    if with_scores:
        return cand[order], np.take_along_axis(score, order, 1)
    return cand[order]


def fill(shipped: np.ndarray, picks: np.ndarray, is_new: np.ndarray, cap: int) -> np.ndarray:
    """The baseline's lists [U, 10]: genrec's trained items, with the last `cap` slots always
    given to the baseline's picks [U, >= cap] (new rows genrec showed are dropped first)."""
    out = np.full_like(shipped, -1)
    for u, row in enumerate(shipped):
        warm = [r for r in row if r >= 0 and not is_new[r]][: K - cap]
        lst = warm + picks[u, :cap].tolist()
        out[u, : len(lst)] = lst
    return out


def fill_gated(trained: np.ndarray, picks: np.ndarray, scores: np.ndarray, threshold: float,
               cap: int) -> np.ndarray:
    """The gated baseline's lists [U, 10]: genrec's trained items, the last ones displaced by
    the baseline's picks [U, >= cap] whose scores [U, >= cap] reach `threshold` (best first)."""
    out = np.full((len(trained), K), -1, dtype=np.int64)
    for u, row in enumerate(trained):
        take = [int(p) for p, s in zip(picks[u, :cap], scores[u, :cap], strict=True)
                if s >= threshold]
        lst = [int(r) for r in row if r >= 0][: K - len(take)] + take
        out[u, : len(lst)] = lst
    return out


def hits(top: np.ndarray, users: Users, k: int = K) -> np.ndarray:
    """bool [U]: whether each user's target is in their top-k (Recall@k per user)."""
    return (top[:, :k] == users.targets[:, None]).any(1)


def metrics(top: np.ndarray, users: Users, k: int = K) -> dict[str, float]:
    m = ranking_metrics(top[:, :k], users.targets, ks=(k,))
    return {name: round(v, 5) for name, v in m.items()}


def _pad(lists: list[list[int]], k: int) -> np.ndarray:
    out = np.full((len(lists), k), -1, dtype=np.int64)
    for u, lst in enumerate(lists):
        out[u, : len(lst)] = lst
    return out
