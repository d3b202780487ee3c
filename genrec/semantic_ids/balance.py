"""Collision-aware last-level assignment (as LC-Rec / LETTER): spread crowded codes.

Items that share every code but the last form a group; inside a group each last-level code may
take at most ceil(group / K) items, and the assignment minimising total squared distance to the
last codebook is solved exactly (Hungarian algorithm). A group of <= K items then gets distinct
codes, so no disambiguation token is needed for it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def balanced_last_level(prefix: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Last-level codes int64 [n].

    prefix: int64 [n, L-1], the items' codes before the last level.
    cost:   float [n, K], cost of giving item i last-level code c (e.g. squared distance).
    """
    n, k = cost.shape
    out = np.argmin(cost, axis=1).astype(np.int64)
    _, group = np.unique(prefix, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2 or len(np.unique(out[members])) == len(members):
            continue  # no collision inside this group: keep the nearest codes
        cap = -(-len(members) // k)
        slots = np.repeat(cost[members], cap, axis=1)  # [g, K*cap], column j -> code j // cap
        rows, cols = linear_sum_assignment(slots)
        out[members[rows]] = cols // cap
    return out
