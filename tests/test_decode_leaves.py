"""Item-aware leaves (beam_search with `leaf`, `leaf_from`) against a pure-Python reference.

The decoder's table chooses the first `leaf_from` tokens; then every active item below each
beam is scored by a fixed per-user item score, log-softmaxed among that beam's active items
(excluded ones included: exclusion restricts the choice, it does not renormalise), and the
best k of all beams' items win, ties by (beam rank, leaf order).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_decode_beam import SETTINGS, Case, cases

from genrec.decode import ConstraintIndex, beam_search


def _leaf_fn(scores: np.ndarray, index: ConstraintIndex):
    """Scores [B, N] (item order), read as the Recommender reads its table: by trie row, from a
    copy stored in leaf order, so a wrong row would score the wrong item."""
    by_row = torch.from_numpy(scores[:, index.leaf_item])  # [B, N] float64, leaf order

    def leaf(items: torch.Tensor, rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        users = torch.arange(items.shape[0]).view(-1, *[1] * (items.ndim - 1)).expand_as(items)
        return torch.where(mask, by_row[users, rows], 0.0)

    return leaf


def reference(case: Case, scores: np.ndarray, depth: int, user: int,
              force: list[int] | None = None, budget: int = 0, weight: float = 0.0,
              prefix_beam: int = 0, outside: set[int] | None = None, scale: float = 1.0,
              offset: float = 0.0, scored: bool = False) -> list:
    """Beam search over the first `depth` levels with dicts and loops, then every item; with
    `force` (depth 1), the first codes of those items join the beams (after them, once);
    with `budget`, the last level keeps every candidate prefix (not only the best `beam`) and
    only the best ones whose items (active or not) add up to <= budget (the best one always)
    are opened, and forced beams on top of them; `weight`: items ranked by their score +
    weight * item score; `prefix_beam`: the levels before the last keep that many beams
    (at most `beam`); `outside`: items left out of their beam's softmax normaliser (unless
    the beam holds only such items), their score (prefix + leaf log-prob) -> scale * it + offset.
    scored: (score, item) pairs instead of items."""
    banned = set(case.exclude[user])
    rows = case.codes.tolist()
    usable = [i for i in range(len(rows)) if case.active[i] and i not in banned]
    beams: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    for lvl in range(depth):
        cands = []
        for score, prefix in beams:
            logp = case.logp(user, prefix)
            for tok in range(case.sizes[lvl]):
                path = (*prefix, tok)
                if any(tuple(rows[i][: lvl + 1]) == path for i in usable):
                    cands.append((score + float(logp[tok]), path))
        width = len(cands) if budget and lvl == depth - 1 else case.beam
        if prefix_beam and lvl < depth - 1:
            width = min(prefix_beam, case.beam)
        beams = sorted(cands, key=lambda c: -c[0])[:width]
    forced = []  # forced first codes not among the beams, in force order
    paths = set()  # every reachable forced first code
    for item in force or []:
        path = (rows[item][0],)
        if any(rows[i][0] == path[0] for i in usable):
            paths.add(path)
            if all(p != path for _, p in beams + forced):
                forced.append((float(case.logp(user, ())[path[0]]), path))
    if budget:  # forced codes open outside the budget, whether the beam holds them or not
        free = [b for b in range(len(beams)) if beams[b][1] not in paths]
        ranked = sorted(free, key=lambda b: -beams[b][0])  # stable: ties by position
        size = [sum(tuple(r[:depth]) == beams[b][1] for r in rows) for b in ranked]
        keep = {b for n, b in enumerate(ranked) if n == 0 or sum(size[: n + 1]) <= budget}
        beams = [beams[b] for b in range(len(beams)) if b in keep or beams[b][1] in paths]
    beams += forced
    final = []
    for score, prefix in beams:
        below = sorted((rows[i], i) for i in range(len(rows))
                       if case.active[i] and tuple(rows[i][:depth]) == prefix)  # leaf order
        inside = [i for _, i in below if i not in (outside or set())] or [i for _, i in below]
        lse = float(np.logaddexp.reduce([scores[user, i] for i in inside]))
        cal = {i: (scale, offset) if i in (outside or set()) else (1.0, 0.0) for _, i in below}
        final += [(cal[i][0] * (score + scores[user, i] - lse) + cal[i][1]
                   + weight * scores[user, i], i) for _, i in below if i not in banned]
    best = sorted(final, key=lambda c: -c[0])[: case.k]
    return best if scored else [i for _, i in best]


@SETTINGS
@given(cases(), st.data())
def test_leaves_equal_python_reference(case: Case, data: st.DataObject) -> None:
    depth = data.draw(st.integers(1, len(case.sizes) - 1))
    seed = data.draw(st.integers(0, 2**31 - 1))
    scores = np.random.default_rng(seed).normal(size=(case.batch, len(case.codes))) * 2.0
    dense = data.draw(st.booleans())
    budget = data.draw(st.sampled_from([0, 1, 2, 3, 5, 8]))  # 0: every beam opens
    weight = data.draw(st.sampled_from([0.0, 0.5, 3.0]))  # re-scoring of all opened leaves
    prefix_beam = data.draw(st.sampled_from([0, 1, 2, 3]))  # width before the last level
    out_mask = np.random.default_rng(seed + 1).random(len(case.codes)) < data.draw(
        st.sampled_from([0.0, 0.3, 0.7]))  # items outside their prefix's normaliser
    outside = set(np.flatnonzero(out_mask).tolist())
    scale, offset = data.draw(st.sampled_from([(1.0, 0.0), (0.3, -1.5), (1.0, 2.0)]))
    index = ConstraintIndex.build(case.codes, case.sizes, active=case.active,
                                  dense_limit=2**22 if dense else 0)
    res = beam_search(case.step, case.batch, index, beam=case.beam, k=case.k,
                      exclude=case.exclude, leaf=_leaf_fn(scores, index), leaf_from=depth,
                      leaf_budget=budget, leaf_weight=weight, prefix_beam=prefix_beam,
                      leaf_outside=torch.from_numpy(out_mask) if outside else None,
                      outside_scale=scale, outside_offset=offset)
    assert (res.unscored is not None) == (weight > 0)  # the beam's own list beside it
    for user in range(case.batch):
        want = reference(case, scores, depth, user, budget=budget, weight=weight,
                         prefix_beam=prefix_beam, outside=outside, scale=scale,
                         offset=offset)
        got = res.items[user].tolist()
        assert got[: len(want)] == want
        assert all(i == -1 for i in got[len(want):])
        pairs = reference(case, scores, depth, user, budget=budget, weight=weight,
                          prefix_beam=prefix_beam, outside=outside, scale=scale, offset=offset,
                          scored=True)  # the scores too, calibration included
        np.testing.assert_allclose(res.scores[user, : len(pairs)].numpy(),
                                   [sc for sc, _ in pairs], rtol=1e-5, atol=1e-5)
        if res.unscored is not None:
            plain = reference(case, scores, depth, user, budget=budget, prefix_beam=prefix_beam,
                              outside=outside, scale=scale,
                         offset=offset)
            assert res.unscored.items[user].tolist()[: len(plain)] == plain
        for item, tup in zip(got, res.tuples[user].tolist(), strict=True):
            if item >= 0:
                assert tup == case.codes[item].tolist()


def test_first_leaf_spans_each_subtree() -> None:
    codes = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 2], [2, 2, 0]])
    index = ConstraintIndex.build(codes, [3, 3, 3])
    for lvl in range(3):
        first = index.first_leaf[lvl]
        for node in range(index.n_nodes[lvl]):
            leaves = range(first[node], first[node + 1])
            items = index.leaf_item[list(leaves)]
            prefixes = {tuple(codes[i, : lvl + 1]) for i in items}
            assert len(prefixes) == 1  # one node's leaves share its prefix ...
            assert np.sum(index.item_node[lvl] == node) == len(items)  # ... and are all of them
    assert index.max_leaves == [3, 2, 1]
    # leaf_cap: the fewest generated levels whose prefixes hold <= cap items
    assert [index.prefix_levels(cap) for cap in (5, 3, 2, 1)] == [1, 1, 2, 2]
    # first codes hold 3, 1, 1 items: a budget opens at most as many as its smallest ones fill
    assert [index.max_open(0, budget) for budget in (0, 1, 2, 4, 5)] == [1, 1, 2, 2, 3]


@SETTINGS
@given(cases(), st.data())
def test_forced_first_codes_equal_python_reference(case: Case, data: st.DataObject) -> None:
    """force: a few items per user whose first codes join the beams before the leaves."""
    beam = data.draw(st.integers(1, 2))  # narrower than the first level: forcing matters
    case = replace(case, beam=beam, k=data.draw(st.integers(1, beam)))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(case.batch, len(case.codes))) * 2.0
    n_force = data.draw(st.integers(1, 3))
    force = rng.integers(-1, len(case.codes), size=(case.batch, n_force))  # -1: padding
    budget = data.draw(st.sampled_from([0, 1, 2, 4]))  # forced beams open on top of it
    index = ConstraintIndex.build(case.codes, case.sizes, active=case.active,
                                  dense_limit=2**22 if data.draw(st.booleans()) else 0)
    res = beam_search(case.step, case.batch, index, beam=case.beam, k=case.k,
                      exclude=case.exclude, leaf=_leaf_fn(scores, index), leaf_from=1,
                      force=torch.from_numpy(force), leaf_budget=budget)
    for user in range(case.batch):
        want = reference(case, scores, 1, user, [int(i) for i in force[user] if i >= 0], budget)
        got = res.items[user].tolist()
        assert got[: len(want)] == want
        assert all(i == -1 for i in got[len(want):])


def test_a_forced_first_code_can_win_where_the_beam_would_not_go() -> None:
    """Code 0 holds four equal items, code 2 one: the decoder prefers code 0 (the beam of 1
    takes it), but the single item below code 2 scores higher once its code is expanded."""
    codes = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [2, 0]])
    index = ConstraintIndex.build(codes, [3, 4])
    first = torch.tensor([[[2.0, -1.0, 1.2]]])  # log p(code 0) ~ -0.3, log p(code 2) ~ -1.1

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        assert level == 0
        return first.expand(prefix.shape[0], prefix.shape[1], 3)

    leaf = _leaf_fn(np.zeros((1, len(codes))), index)
    plain = beam_search(step, 1, index, beam=1, k=1, leaf=leaf, leaf_from=1)
    forced = beam_search(step, 1, index, beam=1, k=1, leaf=leaf, leaf_from=1,
                         force=torch.tensor([[5]]))
    assert plain.items.tolist() == [[0]] and forced.items.tolist() == [[5]]
    logp = torch.log_softmax(first[0, 0], 0)
    assert forced.scores[0, 0].item() == pytest.approx(logp[2].item())  # its code's, leaf 0


def test_forced_first_node_zero_on_a_dense_row_with_gaps() -> None:
    """Found by hypothesis: on a dense first level a missing code's slot reads node 0; a forced
    item whose first code is node 0 must still open it (it wins here)."""
    codes = np.array([[3, 0], [1, 0], [1, 1], [3, 1], [1, 2], [1, 3], [1, 4]])
    active = np.array([True, False, False, True, False, False, True])
    index = ConstraintIndex.build(codes, [4, 5], active=active, dense_limit=2**22)
    assert index.dense[0] is not None  # the dense path, with code 0 and 2 missing
    first = torch.tensor([[[0.25, -0.26, 1.28, 0.21]]], dtype=torch.float64)

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        return first.expand(prefix.shape[0], prefix.shape[1], 4)

    leaf = _leaf_fn(np.array([[0.0, 0.5, 0.7, 0.0, 0.1, 0.2, 0.0]]), index)  # code 3 splits
    plain = beam_search(step, 1, index, beam=1, k=1, leaf=leaf, leaf_from=1)
    forced = beam_search(step, 1, index, beam=1, k=1, leaf=leaf, leaf_from=1,
                         force=torch.tensor([[6]]))
    assert plain.items.tolist() == [[0]] and forced.items.tolist() == [[6]]
