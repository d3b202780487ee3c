"""Data loading: staged benchmarks, a user's own files, raw Amazon 2014 dumps, downloads.

Every loader returns a `Dataset` (items and users indexed 0..n-1, chronological sequences) and
raises `genrec.errors.DataError` naming file, line and value on bad input.
"""

from __future__ import annotations

from pathlib import Path

from genrec.data._build import LoadReport
from genrec.data.amazon_raw import load_amazon_raw
from genrec.data.benchmarks import BENCHMARKS, data_root, load_benchmark
from genrec.data.custom import build_dataset, load_custom, load_interactions, load_items
from genrec.data.dataset import Dataset, Split, leave_one_out
from genrec.data.download import download, download_amazon2014
from genrec.errors import DataError

__all__ = [
    "BENCHMARKS",
    "Dataset",
    "LoadReport",
    "Split",
    "build_dataset",
    "data_root",
    "download",
    "download_amazon2014",
    "leave_one_out",
    "load_amazon_raw",
    "load_benchmark",
    "load_custom",
    "load_dataset",
    "load_interactions",
    "load_items",
]


def load_dataset(name: str, data_dir: str | Path | None = None, *, k_core: int = 5) -> Dataset:
    """A benchmark name (see BENCHMARKS), or a folder holding one raw `reviews_*_5.json.gz`
    (plus, optionally, the matching `meta_<Category>.json.gz` for item text)."""
    if name in BENCHMARKS:
        return load_benchmark(name, data_dir)
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"unknown dataset {name!r}: not a benchmark ({', '.join(BENCHMARKS)}) "
            "and not a folder with raw Amazon reviews_<Category>_5.json.gz files"
        )
    return _load_raw_folder(folder, k_core)


def _load_raw_folder(folder: Path, k_core: int) -> Dataset:
    reviews = sorted(folder.glob("reviews_*_5.json.gz"))
    if len(reviews) != 1:
        found = ", ".join(p.name for p in reviews) or "none"
        raise DataError(f"expected exactly one reviews_<Category>_5.json.gz file, found {found}",
                        path=folder)
    category = reviews[0].name.removeprefix("reviews_").removesuffix("_5.json.gz")
    meta = folder / f"meta_{category}.json.gz"
    return load_amazon_raw(reviews[0], meta if meta.is_file() else None, k_core)
