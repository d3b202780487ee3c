"""beam_search against slow, obviously-correct references on hypothesis-generated catalogues.

The step function is a fixed random table: logits[l][user, prefix code] (float64), so the score
of a full tuple is determined by its path and the references can recompute it exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec.decode import BeamResult, ConstraintIndex, beam_search

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Case:
    codes: np.ndarray  # int64 [N, L]
    sizes: list[int]
    tables: list[np.ndarray]  # per level float64 [B, prod(sizes[:l]), sizes[l]]
    exclude: list[list[int]]
    beam: int
    k: int
    active: np.ndarray  # bool [N]

    @property
    def batch(self) -> int:
        return len(self.exclude)

    def logp(self, user: int, prefix: tuple[int, ...]) -> np.ndarray:
        """Log-probabilities [V_l] after `prefix`, computed like beam_search (logits - lse)."""
        row = torch.from_numpy(self.tables[len(prefix)][user, code_of(prefix, self.sizes)])
        return (row - torch.logsumexp(row, dim=-1)).numpy()

    def step(self, prefix: torch.Tensor, level: int) -> torch.Tensor:
        strides = torch.tensor(_strides(self.sizes[:level]), dtype=torch.long)
        code = (prefix * strides).sum(-1)  # [B, W]
        users = torch.arange(prefix.shape[0])[:, None].expand_as(code)
        return torch.from_numpy(self.tables[level])[users, code]  # [B, W, V_l]


def _strides(sizes: list[int]) -> list[int]:
    return [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]


def code_of(prefix: tuple[int, ...], sizes: list[int]) -> int:
    return sum(t * s for t, s in zip(prefix, _strides(sizes[: len(prefix)]), strict=True))


@st.composite
def cases(draw: st.DrawFn, max_users: int = 3, big_beam: bool = False) -> Case:
    n_levels = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(2, 6), min_size=n_levels, max_size=n_levels))
    if draw(st.booleans()):
        sizes[-1] = 1  # a one-token last level, as balanced indexes have: its call is skipped
    total = math.prod(sizes)
    flat = draw(
        st.lists(st.integers(0, total - 1), min_size=1, max_size=min(60, total), unique=True)
    )
    codes = np.array(
        [[(f // s) % v for s, v in zip(_strides(sizes), sizes, strict=True)] for f in flat],
        dtype=np.int64,
    )
    n = len(codes)
    batch = draw(st.integers(1, max_users))
    exclude = [draw(st.lists(st.integers(0, n - 1), max_size=n)) for _ in range(batch)]
    k = draw(st.integers(1, 8))
    beam = draw(st.integers(max(k, n), max(k, n) + 3) if big_beam else st.integers(k, k + 6))
    active = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if draw(st.booleans()):
        active[:] = True
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    tables = [
        rng.normal(size=(batch, math.prod(sizes[:lvl]), sizes[lvl])) * 2.0
        for lvl in range(n_levels)
    ]
    return Case(codes, sizes, tables, exclude, beam, k, active)


def brute_force(case: Case, user: int) -> tuple[list[int], list[float]]:
    """Score every decodable item of `user`; top-k by (-score, item)."""
    banned = set(case.exclude[user])
    scored = []
    for item, row in enumerate(case.codes.tolist()):
        if item in banned or not case.active[item]:
            continue
        score = sum(float(case.logp(user, tuple(row[:lvl]))[row[lvl]]) for lvl in range(len(row)))
        scored.append((-score, item))
    top = sorted(scored)[: case.k]
    return [i for _, i in top], [-s for s, _ in top]


def reference_beam(case: Case, user: int, constrained: bool = True) -> list[tuple[int, ...]]:
    """Pure-Python beam search: dict trie, loops over beams and children, stable sort."""
    n_levels = len(case.sizes)
    banned = set(case.exclude[user])
    below: dict[tuple[int, ...], set[int]] = {}  # prefix -> decodable items under it
    for item, row in enumerate(case.codes.tolist()):
        for lvl in range(n_levels + 1):
            below.setdefault(tuple(row[:lvl]), set())
            if case.active[item] and item not in banned:
                below[tuple(row[:lvl])].add(item)
    beams: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    for lvl in range(n_levels):
        cands = []
        for score, prefix in beams:
            logp = case.logp(user, prefix)
            for tok in range(case.sizes[lvl]):
                path = (*prefix, tok)
                if not constrained or below.get(path):
                    cands.append((score + float(logp[tok]), path))
        width = case.k if lvl == n_levels - 1 else case.beam
        beams = sorted(cands, key=lambda c: -c[0])[:width]  # stable: ties keep candidate order
    return [p for _, p in beams]


def run(case: Case, constrained: bool = True, dense: bool = True, prefix_beam: int = 0
        ) -> BeamResult:
    index = ConstraintIndex.build(
        case.codes, case.sizes, active=case.active, dense_limit=2**22 if dense else 0
    )
    return beam_search(
        case.step,
        case.batch,
        index,
        beam=case.beam,
        k=case.k,
        exclude=case.exclude,
        constrained=constrained,
        prefix_beam=prefix_beam,
    )


def item_lookup(case: Case) -> dict[tuple[int, ...], int]:
    return {tuple(r): i for i, r in enumerate(case.codes.tolist())}


def check_shapes(res: BeamResult, case: Case) -> None:
    assert res.items.shape == (case.batch, case.k) and res.items.dtype == torch.long
    assert res.scores.shape == (case.batch, case.k)
    assert res.tuples.shape == (case.batch, case.k, len(case.sizes))
    assert bool((res.scores[:, 1:] <= res.scores[:, :-1]).all())  # -inf padding sorts last


@SETTINGS
@given(cases(big_beam=True), st.booleans())
def test_wide_beam_equals_brute_force(case: Case, dense: bool) -> None:
    res = run(case, dense=dense)
    check_shapes(res, case)
    for user in range(case.batch):
        items, scores = brute_force(case, user)
        got = res.items[user].tolist()
        assert got[: len(items)] == items
        assert all(i == -1 for i in got[len(items) :])
        np.testing.assert_allclose(res.scores[user, : len(items)].numpy(), scores, rtol=1e-9)
        assert bool(res.scores[user, len(items) :].isneginf().all())


@SETTINGS
@given(cases(), st.integers(0, 3))
def test_any_beam_equals_python_reference(case: Case, prefix_beam: int) -> None:
    """prefix_beam narrows only the levels before item-aware leaves: full generation keeps
    `beam` at every level whatever it says."""
    res = run(case, prefix_beam=prefix_beam)
    check_shapes(res, case)
    lookup = item_lookup(case)
    for user in range(case.batch):
        ref = [lookup[p] for p in reference_beam(case, user)]
        got = res.items[user].tolist()
        assert got[: len(ref)] == ref
        assert all(i == -1 for i in got[len(ref) :])
        for item, tup in zip(got, res.tuples[user].tolist(), strict=True):
            assert tup == (case.codes[item].tolist() if item >= 0 else [-1] * len(case.sizes))


@SETTINGS
@given(cases())
def test_results_valid_and_full(case: Case) -> None:
    res = run(case)
    assert res.invalid_rate == 0.0 and not bool(res.excluded.any())
    for user in range(case.batch):
        allowed = {i for i in range(len(case.codes)) if case.active[i]} - set(case.exclude[user])
        got = [i for i in res.items[user].tolist() if i >= 0]
        assert set(got) <= allowed and len(set(got)) == len(got)
        assert len(got) == min(case.k, len(allowed))  # exclusion pruning never starves the beam
        assert bool(res.scores[user, : len(got)].isfinite().all())


@SETTINGS
@given(cases(), st.data())
def test_dense_csr_and_tensor_exclusion_agree(case: Case, data: st.DataObject) -> None:
    a = run(case, dense=True)
    b = run(case, dense=False)
    width = max((len(e) for e in case.exclude), default=0) + data.draw(st.integers(0, 2))
    padded = torch.full((case.batch, width), -1, dtype=torch.long)
    for u, e in enumerate(case.exclude):
        padded[u, : len(e)] = torch.tensor(e, dtype=torch.long)
    index = ConstraintIndex.build(case.codes, case.sizes, active=case.active)
    c = beam_search(case.step, case.batch, index, case.beam, case.k, exclude=padded)
    for other in (b, c):
        assert torch.equal(a.items, other.items) and torch.equal(a.tuples, other.tuples)
        assert torch.equal(a.scores, other.scores)


@SETTINGS
@given(cases(max_users=2), st.data())
def test_unconstrained_reports_invalid_tuples(case: Case, data: st.DataObject) -> None:
    lookup = item_lookup(case)
    all_tuples = list(itertools.product(*(range(v) for v in case.sizes)))
    invalid = [t for t in all_tuples if t not in lookup]
    if invalid:  # make the model strongly prefer one tuple that names no item
        target = data.draw(st.sampled_from(invalid))
        for lvl in range(len(case.sizes)):
            case.tables[lvl][:, code_of(target[:lvl], case.sizes), target[lvl]] += 30.0
    res = run(case, constrained=False)
    check_shapes(res, case)
    n_bad = n_returned = 0
    for user in range(case.batch):
        ref = reference_beam(case, user, constrained=False)
        pad = case.k - len(ref)  # fewer than k tuples exist at all
        assert [tuple(t) for t in res.tuples[user].tolist()] == ref + [
            (-1,) * len(case.sizes)
        ] * pad
        want = [lookup.get(t, -1) for t in ref]
        want = [i if i >= 0 and case.active[i] else -1 for i in want]
        assert res.items[user].tolist() == want + [-1] * pad
        n_bad, n_returned = n_bad + sum(i < 0 for i in want), n_returned + len(ref)
        banned = set(case.exclude[user])
        assert res.excluded[user].tolist() == [i >= 0 and i in banned for i in want] + [False] * pad
    assert res.invalid_rate == pytest.approx(n_bad / n_returned)
    if invalid:
        assert res.invalid_rate > 0


@SETTINGS
@given(cases(max_users=2))
def test_unconstrained_exact_beam_equals_brute_force(case: Case) -> None:
    case.beam = max(case.k, math.prod(case.sizes[:-1]))  # keeps every prefix: search is exact
    res = run(case, constrained=False)
    for user in range(case.batch):
        scored = []
        for tup in itertools.product(*(range(v) for v in case.sizes)):
            s = sum(float(case.logp(user, tup[:lvl])[tup[lvl]]) for lvl in range(len(tup)))
            scored.append((-s, tup))
        top = sorted(scored)[: case.k]
        got = [tuple(t) for t in res.tuples[user].tolist()]
        assert got == [t for _, t in top] + [(-1,) * len(case.sizes)] * (case.k - len(top))
        np.testing.assert_allclose(
            res.scores[user, : len(top)].numpy(), [-s for s, _ in top], rtol=1e-9
        )


def test_users_with_different_exclusions() -> None:
    codes = np.array([[a, b] for a in range(3) for b in range(3)], dtype=np.int64)
    index = ConstraintIndex.build(codes, [3, 3])
    logits = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        return logits.expand(*prefix.shape[:2], 3)  # prefers token 2, then 1, then 0

    exclude = [[], [8], [6, 7, 8], list(range(9))]
    res = beam_search(step, 4, index, beam=4, k=3, exclude=exclude)
    assert res.items.tolist() == [[8, 7, 5], [7, 5, 6], [5, 4, 2], [-1, -1, -1]]
    assert bool(res.scores[3].isneginf().all()) and res.tuples[3].tolist() == [[-1, -1]] * 3


def test_tied_scores_break_by_candidate_order() -> None:
    codes = np.array([[a, b] for a in range(4) for b in range(4)], dtype=np.int64)
    index = ConstraintIndex.build(codes, [4, 4])

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        return torch.zeros(*prefix.shape[:2], 4)  # every item ties

    res = beam_search(step, 2, index, beam=5, k=5)
    assert res.items.tolist() == [[0, 1, 2, 3, 4]] * 2


def test_zero_probability_items_still_fill_k() -> None:
    codes = np.array([[a, b] for a in range(2) for b in range(2)], dtype=np.int64)
    index = ConstraintIndex.build(codes, [2, 2])

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        return torch.tensor([float("-inf"), 0.0]).expand(*prefix.shape[:2], 2)  # token 0: p=0

    res = beam_search(step, 1, index, beam=4, k=4)
    assert res.items.tolist() == [[3, 2, 0, 1]]  # -inf ties: candidate order, above empty
    assert res.scores[0, 0] == 0 and bool(res.scores[0, 1:].isneginf().all())


def test_argument_errors() -> None:
    index = ConstraintIndex.build(np.array([[0, 1], [1, 0]]), [2, 2])

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        return torch.zeros(*prefix.shape[:2], 2)

    with pytest.raises(ValueError, match="k <= beam"):
        beam_search(step, 1, index, beam=2, k=3)
    with pytest.raises(ValueError, match="n_items"):
        beam_search(step, 1, index, beam=2, k=1, exclude=[[5]])
    with pytest.raises(ValueError, match="logits"):
        beam_search(lambda p, lvl: torch.zeros(1, 1, 3), 1, index, beam=2, k=1)
    with pytest.raises(ValueError, match="prefix_beam"):
        beam_search(step, 1, index, beam=2, k=1, prefix_beam=-1)


def test_one_token_last_level_skips_the_model_call() -> None:
    codes = np.array([[0, 1, 0], [1, 0, 0], [1, 2, 0], [2, 2, 0]])
    index = ConstraintIndex.build(codes, (3, 3, 1))
    calls: list[int] = []
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(2, 3, generator=gen, dtype=torch.float64)

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        calls.append(level)
        b, w, _ = prefix.shape
        return table[level if level < 2 else 0].expand(b, w, 3 if level < 2 else 1)

    res = beam_search(step, 1, index, beam=4, k=4)
    assert calls == [0, 1]
    scores = {i: float(torch.log_softmax(table[0], 0)[c[0]] + torch.log_softmax(table[1], 0)[c[1]])
              for i, c in enumerate(codes)}
    best = sorted(scores, key=lambda i: -scores[i])
    assert res.items[0].tolist() == best
    assert np.allclose(res.scores[0].numpy(), [scores[i] for i in best])
