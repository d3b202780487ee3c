"""Residual k-means: level l clusters what levels < l left unexplained. No neural network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from genrec.io import atomic_path
from genrec.semantic_ids.kmeans import assign, residual_kmeans, sq_distances


@dataclass
class ResidualKMeans:
    """Frozen residual quantizer: codebooks float32 [levels, K, d]."""

    codebooks: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, levels: int = 3, codebook_size: int = 256, seed: int = 0
    ) -> ResidualKMeans:
        books, _ = residual_kmeans(x, levels, codebook_size, seed)
        return cls(books)

    def encode_with_cost(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes int64 [n, levels] and the last level's squared distances [n, K]."""
        residual = np.array(x, dtype=np.float32, copy=True)
        codes = []
        for books in self.codebooks[:-1]:
            a = assign(residual, books)
            residual -= books[a]
            codes.append(a)
        cost = sq_distances(residual, self.codebooks[-1])
        codes.append(np.argmin(cost, axis=1).astype(np.int64))
        return np.stack(codes, axis=1), cost

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encode_with_cost(x)[0]

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            save_file({"codebooks": np.ascontiguousarray(self.codebooks)}, str(tmp))

    @classmethod
    def load(cls, path: str | Path) -> ResidualKMeans:
        return cls(load_file(str(path))["codebooks"])
