"""benchmarks/coldstart_select.Rule: the admissibility of an in-catalogue drop, checked against
a slow, obviously-correct reference (the jackknife standard error of the same ratio)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from coldstart_select import Rule  # noqa: E402


def _jackknife_se(after: np.ndarray, before: np.ndarray) -> float:
    """SE of sum(after) / sum(before) by leaving each user out in turn."""
    a, b = after.astype(float), before.astype(float)
    n = len(a)
    loo = np.array([(a.sum() - a[i]) / (b.sum() - b[i]) for i in range(n)])
    return float(np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2000, 4000), base=st.floats(0.05, 0.2), lost=st.floats(0.0, 0.15),
       gained=st.floats(0.0, 0.01), seed=st.integers(0, 2**31 - 1))
def test_se_matches_jackknife(n: int, base: float, lost: float, gained: float, seed: int
                              ) -> None:
    rng = np.random.default_rng(seed)
    before = rng.random(n) < base
    after = np.where(before, rng.random(n) >= lost, rng.random(n) < gained)
    got = Rule().check(after, before)
    ref = _jackknife_se(after, before)
    assert abs(got["se"] - ref) <= 0.05 * ref + 1e-4
    assert got["in_catalogue_change"] == round(after.sum() / before.sum() - 1, 4)


def test_admissible_below_the_bar_only_with_room_for_noise() -> None:
    before = np.zeros(20000, dtype=bool)
    before[:2000] = True  # 2,000 warm hits
    after = before.copy()
    after[:80] = False  # 4% of them lost: SE ~ sqrt(80) / 2000 = 0.45%
    r = Rule(bar=0.05, confidence=0.95).check(after, before)
    assert r["in_catalogue_change"] == -0.04
    assert 0.04 + 2.3 * r["se"] < r["drop_bound"] < 0.04 + 2.35 * r["se"]
    assert r["ok"] is False  # 4% + 1.05% > 5%: the noise could carry test past the bar
    assert Rule(bar=0.05, confidence=0.5).check(after, before)["ok"] is True  # no margin
    after[60:80] = True  # 3% lost
    assert Rule().check(after, before)["ok"] is True
    assert Rule().check(before, before) == {"in_catalogue_change": 0.0, "se": 0.0,
                                             "drop_bound": 0.0, "ok": True}
