"""One metric module for every model: checked by hand and against the published popularity."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.baselines import Popularity
from genrec.evaluate import evaluate, ranking_metrics


def test_metrics_by_hand():
    topk = np.array([[5, 1, 2], [0, 7, 3], [9, 8, 4]])
    m = ranking_metrics(topk, np.array([5, 3, 6]), ks=(1, 3))
    assert m["recall@1"] == 1 / 3 and m["recall@3"] == 2 / 3
    assert math.isclose(m["ndcg@3"], (1.0 + 1 / math.log2(4)) / 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.permutations(list(range(12))), min_size=1, max_size=20), st.data())
def test_metrics_match_a_loop(perms, data):
    topk = np.array([p[:10] for p in perms])
    targets = np.array([data.draw(st.integers(0, 11)) for _ in perms])
    m = ranking_metrics(topk, targets)
    for k in (5, 10):
        rec = ndcg = 0.0
        for row, t in zip(topk, targets, strict=True):
            if t in row[:k]:
                rank = list(row).index(t)
                rec, ndcg = rec + 1, ndcg + 1 / math.log2(rank + 2)
        assert math.isclose(m[f"recall@{k}"], rec / len(perms))
        assert math.isclose(m[f"ndcg@{k}"], ndcg / len(perms))


def test_popularity_reproduces_the_published_beauty_numbers(beauty):
    """TIGER reports popularity at Recall@10 .0114 / NDCG@10 .0053 on this split."""
    split = beauty.split()
    pop = Popularity(split.train, beauty.n_items)
    m, topk = evaluate(pop.recommend_fn(exclude_history=False), split.test_history,
                       split.test_target)
    assert round(m["recall@10"], 4) == 0.0114 and round(m["ndcg@10"], 4) == 0.0053
    assert m["n_users"] == beauty.n_users == len(topk)
    m_ex, topk_ex = evaluate(pop.recommend_fn(exclude_history=True), split.test_history,
                             split.test_target)
    assert not any(set(row) & set(h) for row, h in zip(topk_ex[:500], split.test_history[:500],
                                                         strict=True))
