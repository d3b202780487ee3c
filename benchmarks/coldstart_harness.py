"""The cold-start benchmark's engine: one Recommender whose catalogue holds trained and new rows,
with the users' encodings cached, so that each candidate setting of genrec.coldstart costs one
decode (leaves + re-scoring) and no encoder pass. It calls the same Recommender._search and
genrec.coldstart functions as Snapshot.recommend; benchmarks/coldstart.py checks the two give
the same lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genrec.coldstart import ColdStart, cap_new, content_query, new_item_bonus
from genrec.evaluate import ranking_metrics
from genrec.model.recommender import Bonus, Recommender

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


# value [B, M] of the bonus for a batch: (cs, slots, histories, head logits of new rows [B, M])
BonusFn = Callable[[ColdStart, int, list[np.ndarray], Tensor], Tensor]


class Harness:
    def __init__(self, rec: Recommender, content: np.ndarray, is_new: np.ndarray) -> None:
        """rec: serves every row (trained and new); content: unit text vectors [N, d];
        is_new: bool [N], the rows no training sequence held."""
        self.rec, self.content, self.is_new = rec, content, is_new
        assert rec.table is not None, "cold start needs an item head"
        self.table0 = rec.table.clone()  # [N, d] as the catalogue built it
        self.new_rows = np.flatnonzero(is_new)  # [M]
        self.base_rows = np.flatnonzero(~is_new)  # [T]: the neighbours' pool
        self.pos = torch.full((len(is_new),), -1, dtype=torch.long)
        self.pos[torch.from_numpy(self.new_rows)] = torch.arange(len(self.new_rows))
        sims = content[self.new_rows] @ content[self.base_rows].T  # [M, T]
        self.near = self.base_rows[np.argsort(-sims, axis=1, kind="stable")[:, :64]]  # [M, 64]
        self.active = rec.constraint
        self.inactive_new = rec.constraint.with_active(~is_new)
        self._cache: dict[int, list[tuple[Tensor, Tensor, Tensor]]] = {}

    def set_neighbours(self, k: int) -> None:
        """New rows' output vectors: the mean of their k content-nearest trained rows'."""
        near = torch.from_numpy(self.near[:, :k])
        self.rec.table[torch.from_numpy(self.new_rows)] = self.table0[near].mean(1)

    def encodings(self, users: Users) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(memory, positions, head state) per batch of BATCH users, computed once."""
        key = id(users)
        if key not in self._cache:
            out = []
            with torch.no_grad():
                for lo in range(0, len(users), BATCH):
                    mem, mem_pos = self.rec._encode(users.hists[lo : lo + BATCH])
                    out.append((mem, mem_pos, self.rec._state(mem, mem_pos)))
            self._cache[key] = out
        return self._cache[key]

    def head_logits_new(self, users: Users) -> Tensor:
        """float32 [U, M]: the head's logit of every new row for every user."""
        table = self.rec.table[torch.from_numpy(self.new_rows)]
        return torch.cat([state @ table.T for _, _, state in self.encodings(users)])

    def trained_logits(self, users: Users) -> Tensor:
        """float32 [U, T]: the head's logit of every trained (base) row."""
        table = self.table0[torch.from_numpy(self.base_rows)]
        return torch.cat([state @ table.T for _, _, state in self.encodings(users)])

    @torch.no_grad()
    def lists(self, users: Users, cs: ColdStart | None, slots: int = 0,
              bonus_fn: BonusFn | None = None) -> dict[str, np.ndarray]:
        """Per user: `shipped` [U, 10] (re-scored, new rows capped at `slots`; 0: no cap) and
        `beam` [U, 20] (the beam's own order, uncapped). cs None: new rows cannot be shown."""
        self.rec.constraint = self.active if cs is not None else self.inactive_new
        shipped, beam = [], []
        try:
            for b, (mem, mem_pos, state) in enumerate(self.encodings(users)):
                hists = users.hists[b * BATCH : (b + 1) * BATCH]
                bonus = None
                if cs is not None:
                    value = (bonus_fn or self.genrec_bonus())(cs, slots, hists,
                                                              self._new_logits(state))
                    bonus = Bonus(self.pos, value)
                excl = [h.tolist() for h in hists]
                top, cand = self.rec._search(mem, mem_pos, state, self.rec.beam, excl, True,
                                             bonus)
                pairs = [[(int(i), 0.0) for i in row if i >= 0] for row in top.items.tolist()]
                shipped += [[r for r, _ in lst] for lst in cap_new(pairs, self.is_new, slots, K)]
                beam.append(cand.items[:, :20].numpy())
        finally:
            self.rec.constraint = self.active
        return {"shipped": _pad(shipped, K), "beam": np.concatenate(beam)}

    def _new_logits(self, state: Tensor) -> Tensor:
        return state @ self.rec.table[torch.from_numpy(self.new_rows)].T  # [B, M]

    # --- the bonus variants the benchmark compares -----------------------------------------
    def genrec_bonus(self) -> BonusFn:
        """The shipped bonus: genrec.coldstart.new_item_bonus over this harness's new rows."""
        content, new_rows = self.content, self.new_rows

        def fn(cs: ColdStart, slots: int, hists: list[np.ndarray], logit: Tensor) -> Tensor:
            return new_item_bonus(cs, content, hists, new_rows, slots)

        return fn

    def content_only_bonus(self) -> BonusFn:
        """New rows ranked by content alone: the head's logit is swapped for its mean over the
        new rows (one level per user, so a new item still has to beat trained ones)."""
        content, new_rows = self.content, self.new_rows

        def fn(cs: ColdStart, slots: int, hists: list[np.ndarray], logit: Tensor) -> Tensor:
            flat = logit.mean(1, keepdim=True) - logit
            return flat + new_item_bonus(cs, content, hists, new_rows, slots)

        return fn


def query_scores(content: np.ndarray, hists: list[np.ndarray], cand: np.ndarray, recent: int,
                 decay: float, agg: str) -> np.ndarray:
    """float32 [U, M]: content-KNN scores of candidate rows: the recency-weighted sum of
    cosines to the last `recent` history items ('sum', i.e. the query vector's cosine) or their
    weighted maximum ('max')."""
    if agg == "sum":
        query = np.stack([content_query(content, h, recent, decay) for h in hists])
        return query @ content[cand].T
    out = np.full((len(hists), len(cand)), -np.inf, dtype=np.float32)
    for u, h in enumerate(hists):
        rows = h[-recent:]
        w = decay ** np.arange(len(rows))[::-1]
        out[u] = (w[:, None] * (content[rows] @ content[cand].T)).max(0)
    return out


def top_new(score: np.ndarray, cand: np.ndarray, hists: list[np.ndarray], n: int
            ) -> np.ndarray:
    """int64 [U, n]: the n best candidate rows per user by score [U, M], history excluded."""
    score = score.copy()
    for u, h in enumerate(hists):
        score[u, np.isin(cand, h)] = -np.inf
    order = np.argsort(-score, axis=1, kind="stable")[:, :n]
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


def metrics(top: np.ndarray, users: Users, k: int = K) -> dict[str, float]:
    m = ranking_metrics(top[:, :k], users.targets, ks=(k,))
    return {name: round(v, 5) for name, v in m.items()}


def _pad(lists: list[list[int]], k: int) -> np.ndarray:
    out = np.full((len(lists), k), -1, dtype=np.int64)
    for u, lst in enumerate(lists):
        out[u, : len(lst)] = lst
    return out
