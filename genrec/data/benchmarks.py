"""Loaders for the staged benchmark sets (see `<data root>/README.md` and each PROVENANCE.md).

Index conventions:
- Amazon 2014 sets: file item_id k (1-based, S3-Rec / P5 numbering) is internal index k - 1, so
  item order is the items file order. External ids are the file ids as strings ("1", "2", ...);
  the ASIN is kept in each item record.
- MovieLens: see `genrec.data.movielens` (items numbered by first appearance in the sequences).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data._sequences import check_known, read_sequences
from genrec.data._text import iter_lines, json_object, parse_uint
from genrec.data.dataset import Dataset
from genrec.data.movielens import load_movielens_1m, load_movielens_100k
from genrec.errors import DataError

ENV_VAR = "GENREC_DATA"
_TEXT_FIELDS = ("title", "brand", "categories", "asin")


def data_root(data_dir: str | Path | None) -> Path:
    """The data folder: `data_dir` if given, else $GENREC_DATA; DataError if neither or missing."""
    if data_dir is None or str(data_dir) == "":
        env = os.environ.get(ENV_VAR, "")
        if not env:
            raise DataError(
                f"no data folder given: pass --data-dir DIR or set {ENV_VAR}=DIR "
                "(the folder holding amazon2014-beauty/, movielens-1m/, ...)"
            )
        data_dir = env
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError("data folder does not exist", path=root)
    return root


def load_benchmark(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load one staged benchmark by name (one of BENCHMARKS) from the data root."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    folder = data_root(data_dir) / name
    if not folder.is_dir():
        raise DataError(f"benchmark folder for {name!r} is missing", path=folder)
    return loader(folder)


def _load_amazon_text(folder: Path) -> Dataset:
    """Amazon set with `items.jsonl.gz` text (Beauty, Toys)."""
    items = read_items_jsonl(folder / "items.jsonl.gz")
    return _amazon_dataset(folder, len(items), items, "items.jsonl.gz")


def _load_amazon_ids(folder: Path) -> Dataset:
    """Amazon set with only `items.tsv.gz` (item_id -> ASIN): no text, so `items` stays []."""
    asins = read_items_tsv(folder / "items.tsv.gz")
    return _amazon_dataset(folder, len(asins), [], "items.tsv.gz")


def _amazon_dataset(
    folder: Path, n_items: int, items: list[dict[str, Any]], items_file: str
) -> Dataset:
    seqs = read_sequences(folder / "sequences.txt.gz")
    check_known(seqs, np.arange(1, n_items + 1), folder / items_file)
    return Dataset(
        name=folder.name,
        item_ids=[str(k) for k in range(1, n_items + 1)],
        user_ids=seqs.user_ids,
        sequences=[s - 1 for s in seqs.items],
        items=items,
    )


def read_items_jsonl(path: Path) -> list[dict[str, Any]]:
    """Item records ordered by `item_id`, which must run 1..N without gaps or duplicates."""
    by_id: dict[int, tuple[int, dict[str, Any]]] = {}
    for line, text in iter_lines(path):
        if not text.strip():
            continue
        obj = json_object(text, path, line)
        item_id = obj.get("item_id")
        if not isinstance(item_id, int) or isinstance(item_id, bool) or item_id < 1:
            raise DataError("item_id must be a positive integer", path=path, line=line,
                            field="item_id", value=item_id)
        if item_id in by_id:
            raise DataError(f"duplicate item id (first on line {by_id[item_id][0]})",
                            path=path, line=line, field="item_id", value=item_id)
        by_id[item_id] = line, {k: obj.get(k) for k in _TEXT_FIELDS}
    _check_dense(sorted(by_id), path)
    return [by_id[k][1] for k in range(1, len(by_id) + 1)]


def read_items_tsv(path: Path) -> list[str]:
    """ASINs of an `item_id<TAB>asin` file (header line first), ordered by item_id 1..N."""
    by_id: dict[int, tuple[int, str]] = {}
    for line, text in iter_lines(path):
        fields = text.split("\t")
        if line == 1:
            if fields != ["item_id", "asin"]:
                raise DataError("expected the header 'item_id<TAB>asin'", path=path, line=1,
                                value=text)
            continue
        if not text.strip():
            continue
        if len(fields) != 2:
            raise DataError(f"expected 2 tab-separated fields, found {len(fields)}", path=path,
                            line=line, value=text)
        item_id = parse_uint(fields[0], path, line, "item_id")
        if item_id in by_id:
            raise DataError(f"duplicate item id (first on line {by_id[item_id][0]})",
                            path=path, line=line, field="item_id", value=fields[0])
        by_id[item_id] = line, fields[1]
    _check_dense(sorted(by_id), path)
    return [by_id[k][1] for k in range(1, len(by_id) + 1)]


def _check_dense(ids: list[int], path: Path) -> None:
    """Amazon item ids double as indices (k -> k-1), so they must be exactly 1..N."""
    if not ids:
        raise DataError("no item records", path=path)
    for expected, got in enumerate(ids, start=1):
        if got != expected:
            raise DataError(f"item ids must run 1..N without gaps; {expected} is missing",
                            path=path, field="item_id", value=expected)


_LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "amazon2014-beauty": _load_amazon_text,
    "amazon2014-toys": _load_amazon_text,
    "amazon2014-sports": _load_amazon_ids,
    "movielens-1m": load_movielens_1m,
    "movielens-100k": load_movielens_100k,
}
BENCHMARKS: tuple[str, ...] = tuple(_LOADERS)
