"""Read columns of a user's CSV / Parquet / JSONL file, keeping the source line of every row.

Each row remembers where it came from (`Table.lines`): the 1-based physical line for text files
(the header is line 1, so the first CSV data row is line 2) and the 1-based row for Parquet, so
later checks can point at the exact place.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrec.data._text import available, iter_lines, json_object
from genrec.errors import DataError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


@dataclass
class Table:
    """Selected columns of a file, as Python values, rows in file order."""

    path: Path
    columns: dict[str, list[Any]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)


def file_kind(path: Path, allowed: tuple[str, ...]) -> str:
    """'csv' | 'parquet' | 'jsonl' from the file name; DataError for anything else."""
    name = path.name.lower()
    for kind, suffixes in (("csv", CSV_SUFFIXES), ("parquet", PARQUET_SUFFIXES),
                           ("jsonl", JSONL_SUFFIXES)):
        if kind in allowed and name.endswith(suffixes):
            return kind
    known = [s for k, ss in (("csv", CSV_SUFFIXES), ("parquet", PARQUET_SUFFIXES),
                             ("jsonl", JSONL_SUFFIXES)) if k in allowed for s in ss]
    raise DataError(f"unsupported file type; expected one of {', '.join(known)}", path=path)


def read_table(
    path: str | Path, columns: list[str] | None, required: list[str], allowed: tuple[str, ...]
) -> Table:
    """Read `columns` (None: all) of `path`; every name in `required` must exist."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    kind = file_kind(path, allowed)
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[kind]
    table = reader(path, columns, required)
    if not len(table):
        raise DataError("file has no data rows", path=path)
    return table


def _missing(path: Path, col: str, names: list[str], line: int | None = None) -> DataError:
    return DataError(f"missing column {col!r}; available: {available(names)}", path=path,
                     line=line, field=col)


def _select(path: Path, names: list[str], columns: list[str] | None, required: list[str]
            ) -> list[str]:
    for col in [*required, *(columns or [])]:
        if col not in names:
            raise _missing(path, col, names)
    return list(dict.fromkeys([*required, *(columns if columns is not None else names)]))


def _read_csv(path: Path, columns: list[str] | None, required: list[str]) -> Table:
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    lines = (text for _, text in iter_lines(path, keepends=True))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    rows = _csv_rows(reader, path)
    line, header = next(rows)
    want = _select(path, header, columns, required)
    pos = [header.index(c) for c in want]
    table = Table(path, {c: [] for c in want}, [])
    for line, row in rows:
        if row == header:
            raise DataError("the header is repeated inside the file", path=path, line=line)
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} fields, found {len(row)}", path=path,
                            line=line, value=delimiter.join(row))
        for col, p in zip(want, pos, strict=True):
            table.columns[col].append(row[p])
        table.lines.append(line)
    return table


def _csv_rows(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) for non-blank CSV records; csv.Error becomes a DataError with the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(f"malformed CSV ({e})", path=path, line=reader.line_num) from None
        if row and any(f.strip() for f in row):
            yield reader.line_num, row


def _read_parquet(path: Path, columns: list[str] | None, required: list[str]) -> Table:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
        want = _select(path, list(pfile.schema_arrow.names), columns, required)
        data = pfile.read(columns=want)
    except DataError:
        raise
    except Exception as e:  # pyarrow raises several unrelated types for damaged files
        raise DataError(f"not a readable Parquet file ({e})", path=path) from None
    cols = {c: data.column(c).to_pylist() for c in want}
    return Table(path, cols, list(range(1, data.num_rows + 1)))


def _read_jsonl(path: Path, columns: list[str] | None, required: list[str]) -> Table:
    records: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, None] = {}  # every key of every line, in first-seen order
    for line, text in iter_lines(path):
        if not text.strip():
            continue
        obj = json_object(text, path, line)
        for col in required:
            if col not in obj:
                raise _missing(path, col, list(obj), line)
        seen.update(dict.fromkeys(obj))
        records.append((line, obj))
    want = _select(path, list(seen), columns, required)
    cols = {c: [obj.get(c) for _, obj in records] for c in want}
    return Table(path, cols, [line for line, _ in records])
