"""k-means building blocks (faiss), shared by rkmeans, hkmeans and the RQ-VAE initialisation.

faiss runs on the GPUs when its GPU build sees any (GENREC_FAISS_GPU=0 keeps it on the CPU);
GPU and CPU results agree up to float rounding, so codes can differ in near ties.
"""

from __future__ import annotations

import os

import faiss
import numpy as np


def use_gpu() -> bool:
    if os.environ.get("GENREC_FAISS_GPU", "") == "0":
        return False
    return getattr(faiss, "get_num_gpus", lambda: 0)() > 0


def kmeans(x: np.ndarray, k: int, seed: int, niter: int = 25) -> np.ndarray:
    """Centroids float32 [k, d] of `x` [n, d]. Needs n >= k; deterministic for a fixed seed."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(x)}")
    # faiss subsamples to 256 points per centroid by default; keep every point (catalogues
    # here are small), and small clusters (hkmeans leaves) are expected, not worth a warning.
    km = faiss.Kmeans(
        x.shape[1], k, niter=niter, seed=seed, verbose=False,
        max_points_per_centroid=max(256, -(-len(x) // k)), min_points_per_centroid=1,
        gpu=use_gpu(),
    )
    km.train(x)
    return km.centroids.copy()


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for every row, int64 [n] (exact L2 search)."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    if use_gpu():
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    _, idx = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return idx[:, 0].astype(np.int64)


def sq_distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared L2 distances float32 [n, k]."""
    x2 = (x * x).sum(1, keepdims=True)
    c2 = (centroids * centroids).sum(1)[None, :]
    return np.maximum(x2 - 2.0 * x @ centroids.T + c2, 0.0).astype(np.float32)


def residual_kmeans(
    x: np.ndarray, levels: int, k: int, seed: int, niter: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Codebooks [levels, k, d] and codes [n, levels]: k-means on what earlier levels left."""
    residual = np.array(x, dtype=np.float32, copy=True)
    books, codes = [], []
    for level in range(levels):
        c = kmeans(residual, k, seed=seed + level, niter=niter)
        a = assign(residual, c)
        residual -= c[a]
        books.append(c)
        codes.append(a)
    return np.stack(books), np.stack(codes, axis=1)
