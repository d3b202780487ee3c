"""Residual k-means: level l clusters what levels < l left unexplained. No neural network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from genrec.chunked import CHUNK_ROWS, Rows, iter_chunks
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

    def _encode_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = np.array(x, dtype=np.float32, copy=True)
        codes = []
        for books in self.codebooks[:-1]:
            a = assign(residual, books)
            residual -= books[a]
            codes.append(a)
        cost = sq_distances(residual, self.codebooks[-1])
        codes.append(np.argmin(cost, axis=1).astype(np.int64))
        return np.stack(codes, axis=1), cost

    def encode_with_cost(self, x: Rows, chunk: int = CHUNK_ROWS
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Codes int64 [n, levels] and the last level's squared distances [n, K] (that
        matrix is n x K floats: for collision-aware assignment; `encode` does without)."""
        codes = np.empty((len(x), len(self.codebooks)), dtype=np.int64)
        cost = np.empty((len(x), self.codebooks.shape[1]), dtype=np.float32)
        for lo, part in iter_chunks(x, chunk):
            codes[lo : lo + len(part)], cost[lo : lo + len(part)] = self._encode_rows(part)
        return codes, cost

    def encode(self, x: Rows, chunk: int = CHUNK_ROWS) -> np.ndarray:
        """Codes int64 [n, levels], `chunk` rows at a time: memory grows with the chunk,
        not with n (x may be an NpyRows file on disk)."""
        codes = np.empty((len(x), len(self.codebooks)), dtype=np.int64)
        for lo, part in iter_chunks(x, chunk):
            codes[lo : lo + len(part)] = self._encode_rows(part)[0]
        return codes

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            save_file({"codebooks": np.ascontiguousarray(self.codebooks)}, str(tmp))

    @classmethod
    def load(cls, path: str | Path) -> ResidualKMeans:
        return cls(load_file(str(path))["codebooks"])
