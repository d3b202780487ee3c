"""Hierarchical k-means: cluster, then cluster inside each cluster; the last token is the
item's rank inside its leaf (nearest to the leaf centre first). An ID reads
cluster -> sub-cluster -> item, like genre -> author -> book, and is unique by construction.
"""

from __future__ import annotations

import numpy as np

from genrec.semantic_ids.kmeans import assign, kmeans


def hierarchical_codes(
    x: np.ndarray, depth: int = 2, k: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster codes int64 [n, depth] and each item's distance to its leaf centre [n]."""
    n = len(x)
    codes = np.zeros((n, depth), dtype=np.int64)
    dist = np.zeros(n, dtype=np.float32)
    _split(x, np.arange(n), 0, depth, k, seed, codes, dist)
    return codes, dist


def _split(
    x: np.ndarray,
    members: np.ndarray,
    level: int,
    depth: int,
    k: int,
    seed: int,
    codes: np.ndarray,
    dist: np.ndarray,
) -> None:
    """Fill codes[members, level:] by recursive k-means inside `members`."""
    if level == depth:
        centre = x[members].mean(0)
        dist[members] = ((x[members] - centre) ** 2).sum(1)
        return
    points = x[members]
    if len(members) <= k:  # few enough: one child each, ordered by distance to their centre
        order = np.argsort(((points - points.mean(0)) ** 2).sum(1), kind="stable")
        labels = np.empty(len(members), dtype=np.int64)
        labels[order] = np.arange(len(members))
    else:
        labels = assign(points, kmeans(points, k, seed=seed + level))
    codes[members, level] = labels
    for c in np.unique(labels):
        _split(x, members[labels == c], level + 1, depth, k, seed, codes, dist)
