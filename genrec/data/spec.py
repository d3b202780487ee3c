"""Where a run's data comes from: a staged benchmark / raw folder, or the user's own files.

`DataConfig` is the `[data]` section of a run config and the data options of the CLI
(`--interactions FILE --items FILE --user-col ...`). A run saves it in config.json with absolute
paths, so `genrec evaluate/recommend/explain/serve` find the data again without the options.
Columns not named are guessed from the file's header (user/user_id/userId, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genrec.data.dataset import Dataset
from genrec.errors import DataError

USER_GUESSES = ("user", "user_id", "userid", "uid", "customer_id", "customer", "visitor_id")
ITEM_GUESSES = ("item", "item_id", "itemid", "iid", "product_id", "product", "movie_id",
                "movieid", "asin", "sku")
TIME_GUESSES = ("timestamp", "time", "ts", "datetime", "date", "event_time", "unix_time")
ID_GUESSES = ("id", *ITEM_GUESSES)
CATEGORY_COLS = ("categories", "category", "genres", "genre", "tags")


@dataclass
class DataConfig:
    """The `[data]` section: the user's own interactions (+ item text) files."""

    interactions: str | None = None  # CSV/TSV, Parquet or JSON lines of (user, item[, time])
    items: str | None = None  # item text: CSV, Parquet or JSON lines keyed by id_col
    user_col: str | None = None  # [guessed: user, user_id, userId, ...]
    item_col: str | None = None  # [guessed: item, item_id, product_id, movie_id, ...]
    time_col: str | None = None  # [guessed: timestamp, time, date, ...; none: file order]
    id_col: str | None = None  # item id column of the items file [guessed: id, item_id, ...]
    text_cols: list[str] | None = None  # item columns to keep as text [all but the id]
    k_core: int = 5  # drop users and items with fewer interactions, repeatedly
    unknown_items: str = "error"  # interactions naming an item absent from items: error | drop
    name: str | None = None  # dataset name [the interactions file's stem]

    def __post_init__(self) -> None:
        if self.unknown_items not in ("error", "drop"):
            raise DataError(f"data.unknown_items must be 'error' or 'drop', not "
                            f"{self.unknown_items!r}")
        if self.k_core < 0:
            raise DataError(f"data.k_core must be >= 0, got {self.k_core}")
        if self.items is not None and self.interactions is None:
            raise DataError("data.items needs data.interactions (--interactions FILE)")

    @property
    def given(self) -> bool:
        return self.interactions is not None

    def resolved(self, base: Path | None = None) -> DataConfig:
        """Absolute file paths (relative ones are read against `base`, default the cwd), each
        checked to exist, so a saved run finds its data from anywhere."""
        def absolute(p: str | None, option: str) -> str | None:
            if p is None:
                return None
            path = Path(p).expanduser()
            path = (base / path if base is not None and not path.is_absolute() else path)
            if not path.is_file():
                raise DataError(f"{option}: file not found", path=path)
            return str(path.resolve())

        return replace(self, interactions=absolute(self.interactions, "--interactions"),
                       items=absolute(self.items, "--items"))

    def load(self) -> Dataset:
        """The Dataset, columns guessed where not given; logs what the
        k-core filter dropped."""
        from genrec.data._build import log
        from genrec.data.custom import build_dataset_with_report, load_interactions, load_items

        assert self.interactions is not None
        header = columns_of(self.interactions)
        user = self.user_col or guess(header, USER_GUESSES, self.interactions, "--user-col")
        item = self.item_col or guess(header, ITEM_GUESSES, self.interactions, "--item-col")
        time = self.time_col or guess(header, TIME_GUESSES, self.interactions, None)
        inter = load_interactions(self.interactions, user, item, time)
        table = None
        if self.items is not None:
            head = columns_of(self.items)
            id_col = self.id_col or guess(head, (item, *ID_GUESSES), self.items, "--id-col")
            table = load_items(self.items, id_col, self.text_cols)
            table.records = [normalise_record(r) for r in table.records]
        name = self.name or _stem(Path(self.interactions))
        ds, report = build_dataset_with_report(name, inter, table, self.k_core,
                                               self.unknown_items)  # type: ignore[arg-type]
        report.log()
        if self.k_core:
            log.warning("%d-core filter: dropped %d of %d users, %d of %d items (%d interactions)",
                        self.k_core, report.kcore_users_removed,
                        report.users + report.kcore_users_removed, report.kcore_items_removed,
                        report.items + report.kcore_items_removed,
                        report.kcore_interactions_removed)
        return ds


def columns_of(path: str | Path) -> list[str]:
    """Column names from a file's header (CSV/TSV), schema (Parquet) or first object (JSONL)."""
    import csv

    from genrec.data._text import iter_lines
    from genrec.data.tables import file_kind

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    kind = file_kind(path, ("csv", "parquet", "jsonl"))
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as err:  # pyarrow raises several unrelated types for damaged files
            raise DataError(f"not a readable Parquet file ({err})", path=path) from None
    for _, text in iter_lines(path):
        if not text.strip():
            continue
        if kind == "jsonl":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"not JSON ({err.msg})", path=path, line=1) from None
            return list(obj) if isinstance(obj, dict) else []
        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        return next(csv.reader([text], delimiter=delimiter))
    raise DataError("file is empty", path=path)


def guess(columns: list[str], candidates: tuple[str, ...], path: str | Path,
          option: str | None) -> str | None:
    """The first candidate present in `columns` (case and '_' insensitive); a missing required
    column is an error naming the option to set; an optional one is None."""
    norm = {re.sub(r"[_\s-]", "", c.lower()): c for c in columns}
    for cand in candidates:
        hit = norm.get(re.sub(r"[_\s-]", "", cand.lower()))
        if hit is not None:
            return hit
    if option is None:
        return None
    raise DataError(f"cannot guess which column to use; pass {option} (columns: "
                    f"{', '.join(columns[:20])})", path=path)


_PATH_SEP = re.compile(r"\s*(?:>|›|»)\s*")
_LIST_SEP = re.compile(r"\s*[|;,]\s*")


def category_paths(value: Any) -> list[list[str]]:
    """Category paths from any shape: [["Beauty", "Makeup"]], ["Comedy", "Drama"] (a list of
    labels: one path each), "Beauty > Makeup > Lips" (one path), "Comedy|Drama" (two labels),
    a JSON list in a string; blanks and None dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return category_paths(json.loads(text))
            except json.JSONDecodeError:
                pass
        if not text:
            return []
        paths = []
        for part in re.split(r"\s*[|;]\s*", text) if _PATH_SEP.search(text) else [text]:
            if _PATH_SEP.search(part):
                paths.append([p for p in _PATH_SEP.split(part) if p])
            else:
                paths += [[p] for p in _LIST_SEP.split(part) if p]
        return [p for p in paths if p]
    if isinstance(value, list | tuple):
        if all(isinstance(v, list | tuple) for v in value):
            return [[str(c).strip() for c in v if str(c).strip()] for v in value if v]
        return [p for v in value for p in category_paths(v if isinstance(v, str) else str(v))]
    return category_paths(str(value))


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """An item record whose category-like columns are parsed: `categories` becomes a list of
    paths, `genres`/`tags` a list of labels; everything else is kept as read."""
    out = dict(record)
    paths: list[list[str]] = []
    for col in list(out):
        if col.lower() not in CATEGORY_COLS or out[col] is None:
            continue
        parsed = category_paths(out[col])
        if col.lower() in ("genres", "genre", "tags"):
            out[col] = [p[-1] for p in parsed]
        else:
            out[col] = parsed
        paths += parsed
    if paths and "categories" not in out:
        out["categories"] = paths
    return out


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson"):
        name = name.removesuffix(suffix)
    return name
