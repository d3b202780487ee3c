"""Item vectors a chunk of rows at a time, so catalogue-size files never sit in memory whole.

`NpyRows` reads rows of a 2-D .npy with positioned reads, not a memory map: the process
holds only the rows it asked for (a map would keep every page it touched resident). It
behaves like a read-only float32 array for what the index builders need: len, shape, row
slices, row index arrays and np.asarray (which does read everything; small inputs only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from genrec.errors import DataError

CHUNK_ROWS = 65_536  # rows per chunk: 96 MiB of float32 at d=384, the catalogues of the
# benchmarks (Beauty: 12k items) in a single chunk, so their codes are computed as before


class NpyRows:
    """Read-only view of a 2-D float .npy file on disk; every read returns float32 rows."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError("vector file not found", path=self.path)
        with open(self.path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran, dtype = read(f)
            except (ValueError, KeyError) as err:
                raise DataError(f"not a readable .npy file ({err})", path=self.path) from None
            self.offset = f.tell()
        if len(shape) != 2 or fortran or dtype.kind != "f":
            raise DataError("need a 2-D, C-ordered float array", path=self.path,
                            value=f"shape {shape}, dtype {dtype}, fortran_order {fortran}")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.file_dtype = dtype
        self.dtype = np.dtype(np.float32)
        self._row_bytes = self.shape[1] * dtype.itemsize
        expected = self.offset + self.shape[0] * self._row_bytes
        if self.path.stat().st_size < expected:
            raise DataError(f"file is truncated: {self.path.stat().st_size} bytes, header "
                            f"promises {expected}", path=self.path)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 2

    def _read(self, f: BinaryIO, lo: int, hi: int) -> np.ndarray:
        rows = np.empty((hi - lo, self.shape[1]), dtype=self.file_dtype)
        f.seek(self.offset + lo * self._row_bytes)
        if f.readinto(memoryview(rows).cast("B")) != rows.nbytes:
            raise DataError(f"short read at row {lo}", path=self.path)
        return rows.astype(np.float32, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        """rows[lo:hi] or rows[int_array] -> float32 [m, d] (always a fresh array)."""
        with open(self.path, "rb") as f:
            if isinstance(key, slice):
                lo, hi, step = key.indices(len(self))
                if step != 1:
                    raise ValueError("NpyRows slices must have step 1")
                return self._read(f, lo, max(lo, hi))
            idx = np.asarray(key, dtype=np.int64)
            if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= len(self))):
                raise IndexError(f"row indices must be 1-D within [0, {len(self)})")
            out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
            for j, i in enumerate(idx.tolist()):
                out[j] = self._read(f, i, i + 1)[0]
            return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        full = self[0 : len(self)]
        return full if dtype is None else full.astype(dtype, copy=False)


Rows = np.ndarray | NpyRows  # anything index builders can read row chunks from


def iter_chunks(x: Rows, chunk: int = CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, float32 rows [<= chunk, d]) over `x`, in order."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 row, got {chunk}")
    for lo in range(0, len(x), chunk):
        yield lo, np.asarray(x[lo : lo + chunk], dtype=np.float32)


def sample_rows(x: Rows, n: int, seed: int) -> np.ndarray:
    """float32 rows to fit a quantizer on: `n` distinct random rows (sorted), or all of `x`
    when n <= 0 or n >= len(x)."""
    if n <= 0 or n >= len(x):
        return np.asarray(x, dtype=np.float32)
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return np.asarray(x[idx], dtype=np.float32)


def check_finite(x: Rows, path: str | Path | None = None, chunk: int = CHUNK_ROWS) -> None:
    for lo, part in iter_chunks(x, chunk):
        bad = ~np.isfinite(part).all(axis=1)
        if bad.any():
            raise DataError("non-finite value in item vectors", path=path,
                            line=lo + int(np.flatnonzero(bad)[0]) + 1)


def create_npy(path: str | Path, rows: int, dim: int) -> int:
    """A float32 [rows, dim] .npy of zeros (sparse on disk); returns the data offset."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    offset = int(out.offset)
    del out  # nothing was touched: no page of it is resident
    return offset


def write_rows(path: str | Path, offset: int, lo: int, rows: np.ndarray) -> None:
    """Write float32 rows at row `lo` of a file made by create_npy (positioned write)."""
    data = np.ascontiguousarray(rows, dtype=np.float32)
    with open(path, "r+b") as f:
        f.seek(offset + lo * data.shape[1] * 4)
        f.write(memoryview(data).cast("B"))
        f.flush()
        os.fsync(f.fileno())  # a resumed writer may trust every row written before
