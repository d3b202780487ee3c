"""User-supplied item vectors (.npy or Parquet) — e.g. for catalogues without text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genrec.chunked import NpyRows, check_finite
from genrec.errors import DataError

STREAM_BYTES = 1 << 28  # .npy files larger than this stay on disk and are read in chunks


def load_item_vectors(path: str | Path, item_ids: list[str]) -> np.ndarray | NpyRows:
    """float32 [len(item_ids), d] in the dataset's item order.

    .npy: one row per item, already in dataset order; a file over STREAM_BYTES comes back as
    NpyRows (rows read on demand, so a catalogue-size file never sits in memory whole).
    Parquet: an `id` column plus either a list-valued `vector` column or numeric columns
    (all but `id`), matched to `item_ids`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("item vector file not found", path=path)
    if path.suffix == ".npy" and path.stat().st_size > STREAM_BYTES:
        rows = NpyRows(path)
        if len(rows) != len(item_ids):
            raise DataError(f"expected {len(item_ids)} rows (one per item), got shape "
                            f"{rows.shape}", path=path)
        check_finite(rows, path)
        return rows
    if path.suffix == ".npy":
        vecs = np.load(path, allow_pickle=False)
    elif path.suffix == ".parquet":
        vecs = _parquet_vectors(path, item_ids)
    else:
        raise DataError("item vectors must be .npy or .parquet", path=path, value=path.suffix)
    if vecs.ndim != 2 or vecs.shape[0] != len(item_ids):
        raise DataError(
            f"expected {len(item_ids)} rows (one per item), got shape {vecs.shape}", path=path
        )
    if not np.isfinite(vecs).all():
        row = int(np.where(~np.isfinite(vecs).all(axis=1))[0][0])
        raise DataError("non-finite value in item vectors", path=path, line=row + 1)
    return vecs.astype(np.float32)


def _parquet_vectors(path: Path, item_ids: list[str]) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "id" not in table.column_names:
        raise DataError("missing column", path=path, field="id", value=table.column_names)
    ids = [str(x) for x in table.column("id").to_pylist()]
    if "vector" in table.column_names:
        mat = np.array(table.column("vector").to_pylist(), dtype=np.float32)
    else:
        cols = [c for c in table.column_names if c != "id"]
        mat = np.stack([table.column(c).to_numpy() for c in cols], axis=1).astype(np.float32)
    row_of = {iid: r for r, iid in enumerate(ids)}
    missing = [iid for iid in item_ids if iid not in row_of]
    if missing:
        raise DataError("item has no vector", path=path, field="id", value=missing[0])
    return mat[[row_of[iid] for iid in item_ids]]
