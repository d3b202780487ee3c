"""Most-popular items by training-interaction count: the floor every model must clear."""

from __future__ import annotations

import numpy as np


class Popularity:
    def __init__(self, train: list[np.ndarray], n_items: int) -> None:
        counts = np.bincount(np.concatenate(train), minlength=n_items)
        self.ranking = np.argsort(-counts, kind="stable")  # ties: lower item index first

    def recommend_fn(self, exclude_history: bool = True):
        """(histories, users, k) -> int64 [B, k], for genrec.evaluate.evaluate."""

        def fn(histories: list[np.ndarray], users: np.ndarray, k: int) -> np.ndarray:
            out = np.empty((len(histories), k), dtype=np.int64)
            head = self.ranking[: k + max((len(h) for h in histories), default=0)]
            for row, h in enumerate(histories):
                keep = head[~np.isin(head, h)] if exclude_history else head
                out[row] = keep[:k]
            return out

        return fn
