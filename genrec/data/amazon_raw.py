"""The official raw Amazon 2014 files -> Dataset, following S3-Rec's `data_process.py`.

- `reviews_<Category>_5.json.gz`: one strict JSON object per line (reviewerID, asin,
  unixReviewTime, ...). Every review is one interaction (all ratings kept, as in S3-Rec).
- `meta_<Category>.json.gz`: one Python dict literal per line (single quotes, so NOT JSON):
  parsed with ast.literal_eval, falling back to json for re-exported copies.

Users are grouped in order of first appearance, each user's reviews stably sorted by
unixReviewTime (one-day resolution, so same-day reviews keep file order), iterative k-core,
then users and items numbered 1..N by first appearance. External ids are those numbers as
strings, so the result matches the staged S3-Rec / P5 benchmark files; the ASIN is kept in each
item record (`title`, `brand`, `categories`, `asin`). Without a meta file `items` is [] (no text).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data._build import LoadReport, assemble
from genrec.data._text import iter_lines, json_object
from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.io import progress

_REVIEW_FIELDS = (("reviewerID", str), ("asin", str), ("unixReviewTime", int))
# Cheap ASIN extraction so meta lines of items we don't need are never fully parsed.
_META_ASIN = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]+)['"]""")


def load_amazon_raw(
    reviews_path: str | Path,
    meta_path: str | Path | None = None,
    k_core: int = 5,
    *,
    name: str | None = None,
    quiet: bool = False,
) -> Dataset:
    """Dataset from raw review (+ meta) files; logs the LoadReport of counted skips."""
    ds, report = load_amazon_raw_with_report(reviews_path, meta_path, k_core, name=name,
                                             quiet=quiet)
    report.log()
    return ds


def load_amazon_raw_with_report(
    reviews_path: str | Path,
    meta_path: str | Path | None = None,
    k_core: int = 5,
    *,
    name: str | None = None,
    quiet: bool = False,
) -> tuple[Dataset, LoadReport]:
    reviews_path = Path(reviews_path)
    users, items, times = read_reviews(reviews_path, quiet)
    report = LoadReport(source=str(reviews_path), rows=len(users))
    name = name or f"amazon2014-raw-{category_of(reviews_path).lower()}"
    ds, _ = assemble(name, users, items, times, k_core, report)
    asins, ds = ds.item_ids, _renumber(ds)
    if meta_path is not None:
        meta = read_meta(Path(meta_path), set(asins), quiet)
        report.items_without_text = sum(a not in meta for a in asins)
        ds = dataclasses.replace(ds, items=[meta.get(a) or _record(a, {}) for a in asins])
    return ds, report


def category_of(reviews_path: Path) -> str:
    """'reviews_Beauty_5.json.gz' -> 'Beauty' (the file name itself if it doesn't fit)."""
    m = re.fullmatch(r"reviews_(.+?)(?:_5)?\.json(?:\.gz)?", reviews_path.name)
    return m.group(1) if m else reviews_path.name


def _renumber(ds: Dataset) -> Dataset:
    """External ids 1..N in internal order, as S3-Rec writes them."""
    return dataclasses.replace(
        ds,
        item_ids=[str(k) for k in range(1, ds.n_items + 1)],
        user_ids=[str(k) for k in range(1, ds.n_users + 1)],
    )


def _lines(path: Path, quiet: bool) -> Iterator[tuple[int, str]]:
    lines: Iterable[tuple[int, str]] = iter_lines(path)
    if not quiet:
        lines = progress(lines, desc=f"reading {path.name}", unit=" lines")
    return iter(lines)


def read_reviews(path: Path, quiet: bool = False) -> tuple[list[str], list[str], np.ndarray]:
    """reviewerID, asin and unixReviewTime of every review, in file order."""
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    for line, text in _lines(path, quiet):
        if not text.strip():
            continue
        obj = json_object(text, path, line)
        user, item, when = obj.get("reviewerID"), obj.get("asin"), obj.get("unixReviewTime")
        # fast inline check; _field re-checks only to build the error message
        if not (type(user) is str and type(item) is str and type(when) is int and user and item):
            for name, kind in _REVIEW_FIELDS:
                _field(obj, name, kind, path, line)
        users.append(user)
        items.append(item)
        times.append(when)
    return users, items, np.array(times, dtype=np.int64)


def _field(obj: dict[str, Any], name: str, kind: type, path: Path, line: int) -> Any:
    if name not in obj:
        raise DataError(f"missing field; present: {', '.join(obj) or '(none)'}", path=path,
                        line=line, field=name)
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise DataError(f"expected a non-empty {kind.__name__}", path=path, line=line,
                        field=name, value=value)
    return value


def read_meta(path: Path, wanted: set[str], quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Text records (title, brand, categories, asin) of the `wanted` ASINs found in `path`."""
    out: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    for line, text in _lines(path, quiet):
        if not text.strip():
            continue
        m = _META_ASIN.search(text)
        if m and m.group(1) not in wanted:
            continue
        obj = _meta_object(text, path, line)
        asin = _field(obj, "asin", str, path, line)
        if asin not in wanted:
            continue
        if asin in first:
            raise DataError(f"duplicate asin (first on line {first[asin]})", path=path,
                            line=line, field="asin", value=asin)
        first[asin] = line
        out[asin] = _record(asin, obj)
    return out


def _meta_object(text: str, path: Path, line: int) -> dict[str, Any]:
    try:
        obj = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            raise DataError("neither a Python dict literal nor JSON", path=path, line=line,
                            value=text) from None
    if not isinstance(obj, dict):
        raise DataError("expected a dict per line", path=path, line=line, value=text)
    return obj


def _record(asin: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Same fields as the staged benchmark items; missing meta gives empty text."""
    return {
        "title": meta.get("title") or "",
        "brand": meta.get("brand"),
        "categories": meta.get("categories") or [],
        "asin": asin,
    }
