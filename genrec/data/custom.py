"""A user's own data: an interactions table (+ optional item text table) -> Dataset.

Rules (same recipe as S3-Rec, see `genrec.data._build`): users in order of first appearance,
each user's rows stably sorted by time (file order without a time column or on ties), iterative
k-core on users and items, items numbered by first appearance. Repeated (user, item) rows are
kept as separate interactions (re-purchases are real signal); dedupe beforehand if unwanted.
Every skip (unknown items dropped, users/items removed by k-core) is counted in a LoadReport
that is logged on the `genrec.data` logger.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genrec.data._build import LoadReport, assemble
from genrec.data.dataset import Dataset
from genrec.data.tables import Table, read_table
from genrec.errors import DataError

UnknownItems = Literal["error", "drop"]


@dataclass
class Interactions:
    """Rows of an interactions file in file order, ids as strings, times as float (or None)."""

    path: Path
    users: list[str]
    items: list[str]
    times: np.ndarray | None
    lines: list[int]  # source line (text) or row (Parquet), 1-based
    item_col: str = "item"


@dataclass
class ItemTable:
    """Item text records keyed by external id, in file order."""

    path: Path
    ids: list[str]
    records: list[dict[str, Any]]
    lines: list[int]

    def __post_init__(self) -> None:
        self.index = {iid: k for k, iid in enumerate(self.ids)}


def load_interactions(
    path: str | Path, user_col: str = "user", item_col: str = "item", time_col: str | None = None
) -> Interactions:
    """Read interactions from .csv/.csv.gz/.tsv/.parquet, keeping file order."""
    cols = [user_col, item_col, *([time_col] if time_col else [])]
    t = read_table(path, cols, cols, ("csv", "parquet"))
    users = _ids(t, user_col)
    items = _ids(t, item_col)
    times = _times(t, time_col) if time_col else None
    return Interactions(t.path, users, items, times, t.lines, item_col)


def load_items(
    path: str | Path, id_col: str = "id", text_cols: list[str] | None = None
) -> ItemTable:
    """Read item text from CSV, Parquet or JSONL; `text_cols=None` keeps every other column."""
    t = read_table(path, text_cols, [id_col], ("csv", "parquet", "jsonl"))
    ids = _ids(t, id_col)
    first: dict[str, int] = {}
    for iid, line in zip(ids, t.lines, strict=True):
        if iid in first:
            raise DataError(f"duplicate item id (first on line {first[iid]})", path=t.path,
                            line=line, field=id_col, value=iid)
        first[iid] = line
    text = [c for c in t.columns if c != id_col]
    records = [{c: t.columns[c][r] for c in text} for r in range(len(t))]
    return ItemTable(t.path, ids, records, t.lines)


def _ids(t: Table, col: str) -> list[str]:
    """Column as id strings; an empty or null id is an error naming the line."""
    out = []
    for value, line in zip(t.columns[col], t.lines, strict=True):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Parquet writers often store integer ids with nulls as float
        text = "" if value is None else str(value).strip()
        if not text:
            raise DataError("empty id", path=t.path, line=line, field=col, value=value)
        out.append(text)
    return out


def _times(t: Table, col: str) -> np.ndarray:
    """Numbers (epoch seconds or any monotone unit) or ISO-8601 dates/datetimes, as float.

    The first row decides which of the two the column holds; a row of the other kind is an error,
    since comparing epoch numbers with dates would silently misorder sequences.
    """
    values = t.columns[col]
    try:  # fast path: all numeric (or numeric strings)
        out = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        dates = _as_datetime(values[0]) is not None
        out = np.array([_time(v, t.path, line, col, dates)
                        for v, line in zip(values, t.lines, strict=True)], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise DataError("missing or non-finite time", path=t.path, line=t.lines[bad[0]],
                        field=col, value=values[bad[0]])
    return out


def _time(value: Any, path: Path, line: int, col: str, dates: bool) -> float:
    if dates:
        when = _as_datetime(value)
        if when is not None:
            return when.timestamp()
    elif not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    kind = "an ISO-8601 date/time like the first row" if dates else "a number like the first row"
    raise DataError(f"expected {kind}", path=path, line=line, field=col, value=value)


def _as_datetime(value: Any) -> datetime | None:
    """Aware datetime for a date/datetime/ISO string (naive read as UTC), else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return None
    # naive times are read as UTC so results don't depend on the machine's time zone
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_dataset_with_report(
    name: str,
    interactions: Interactions,
    items: ItemTable | None = None,
    k_core: int = 5,
    unknown_items: UnknownItems = "error",
) -> tuple[Dataset, LoadReport]:
    """build_dataset, also returning the LoadReport of counted skips."""
    if unknown_items not in ("error", "drop"):
        raise DataError(f"unknown_items must be 'error' or 'drop', not {unknown_items!r}")
    if k_core < 0:
        raise DataError(f"k_core must be >= 0, not {k_core}")
    report = LoadReport(source=str(interactions.path), rows=len(interactions.users))
    rows = _known_rows(interactions, items, unknown_items, report)
    users = [interactions.users[r] for r in rows]
    item_names = [interactions.items[r] for r in rows]
    times = interactions.times[rows] if interactions.times is not None else None
    ds, _ = assemble(name, users, item_names, times, k_core, report)
    if items is not None:
        ds = dataclasses.replace(ds, items=[items.records[items.index[i]] for i in ds.item_ids])
    return ds, report


def _known_rows(
    inter: Interactions, items: ItemTable | None, unknown: UnknownItems, report: LoadReport
) -> np.ndarray:
    """Row numbers whose item is in the items table; the first unknown one errors, or is counted."""
    if items is None:
        return np.arange(len(inter.items))
    known = np.fromiter((i in items.index for i in inter.items), bool, len(inter.items))
    if not known.all() and unknown == "error":
        r = int(np.argmin(known))
        raise DataError(
            f"item not in the items file {items.path} (pass unknown_items='drop' to skip such "
            f"rows; {int((~known).sum())} rows affected)",
            path=inter.path, line=inter.lines[r], field=inter.item_col, value=inter.items[r],
        )
    report.unknown_items_dropped = int((~known).sum())
    return np.flatnonzero(known)


def build_dataset(
    name: str,
    interactions: Interactions,
    items: ItemTable | None = None,
    k_core: int = 5,
    unknown_items: UnknownItems = "error",
) -> Dataset:
    """Dataset from loaded interactions (+ item text); logs the LoadReport of skipped rows."""
    ds, report = build_dataset_with_report(name, interactions, items, k_core, unknown_items)
    report.log()
    return ds


def load_custom(
    interactions_path: str | Path,
    items_path: str | Path | None = None,
    *,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = None,
    id_col: str = "id",
    text_cols: list[str] | None = None,
    k_core: int = 5,
    unknown_items: UnknownItems = "error",
    name: str | None = None,
) -> Dataset:
    """Read interactions (+ item text) files and build the Dataset in one call."""
    inter = load_interactions(interactions_path, user_col, item_col, time_col)
    items = load_items(items_path, id_col, text_cols) if items_path is not None else None
    return build_dataset(name or _stem(inter.path), inter, items, k_core, unknown_items)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name
