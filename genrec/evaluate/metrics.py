"""Item-level Recall@K and NDCG@K over the whole catalogue — one module for every model.

A model is evaluable if it maps a batch of histories to its top-K item indices (any ranking
over the full catalogue: beam search, a dot product over all items, popularity).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genrec.io import progress

# recommend(histories, users, k) -> item indices [B, k] (-1 = no item), best first
RecommendFn = Callable[[list[np.ndarray], np.ndarray, int], np.ndarray]


def ranking_metrics(topk: np.ndarray, targets: np.ndarray, ks: Sequence[int] = (5, 10)
                    ) -> dict[str, float]:
    """topk int [U, K] ranked items, targets int [U]: mean Recall@k and NDCG@k (one target)."""
    hit = topk == targets[:, None]  # [U, K], at most one True per row
    rank = np.where(hit.any(1), hit.argmax(1), topk.shape[1])  # K = miss
    out: dict[str, float] = {}
    for k in ks:
        if k > topk.shape[1]:
            raise ValueError(f"cannot report @{k} from a top-{topk.shape[1]} list")
        inside = rank < k
        out[f"recall@{k}"] = float(inside.mean())
        out[f"ndcg@{k}"] = float(np.where(inside, 1.0 / np.log2(rank + 2.0), 0.0).mean())
    return out


def evaluate(
    recommend: RecommendFn,
    histories: list[np.ndarray],
    targets: np.ndarray,
    k: int = 10,
    batch_size: int = 256,
    desc: str = "evaluate",
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics over every user (no sampling) and the top-k lists [U, k]."""
    metrics, parts = evaluate_readings(lambda h, u, kk: {"shipped": recommend(h, u, kk)},
                                       histories, targets, k, batch_size, desc)
    return metrics, parts["shipped"]


# readings(histories, users, k) -> {"shipped": [B, k], "beam_only": [B, k], ..., and float
# [B] arrays such as "head_in_candidates"}: several rankings of one model from one pass
ReadingsFn = Callable[[list[np.ndarray], np.ndarray, int], dict[str, np.ndarray]]


def readings_metrics(parts: dict[str, np.ndarray], targets: np.ndarray) -> dict[str, Any]:
    """Metrics of every reading: the first top-k reading ("shipped") at the top level, the
    other top-k readings as objects {recall@k, ndcg@k}, per-user shares as their means."""
    out: dict[str, Any] = {}
    for name, arr in parts.items():
        if arr.ndim == 1:
            out[name] = round(float(arr.mean()), 5)
        elif name == "shipped":
            out |= ranking_metrics(arr, targets)
        else:
            out[name] = {k: round(v, 5) for k, v in ranking_metrics(arr, targets).items()}
    return out


def evaluate_readings(
    readings: ReadingsFn,
    histories: list[np.ndarray],
    targets: np.ndarray,
    k: int = 10,
    batch_size: int = 256,
    desc: str = "evaluate",
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Like `evaluate`, for a model read several ways from one pass per batch."""
    start = time.perf_counter()
    users = np.arange(len(histories))
    chunks: list[dict[str, np.ndarray]] = []
    for lo in progress(range(0, len(histories), batch_size), desc=desc,
                       total=-(-len(histories) // batch_size)):
        batch = users[lo : lo + batch_size]
        chunks.append(readings([histories[u] for u in batch], batch, k))
    parts = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    metrics = readings_metrics(parts, np.asarray(targets))
    metrics["n_users"] = len(histories)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    return metrics, parts
