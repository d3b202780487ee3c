"""MovieLens loaders (ML-1M sequences + movies.dat; ML-100k RecBole atomic files).

Item index order: items are numbered by their first appearance when the sequences are read user
by user, oldest item first (movies without ratings are left out). External item and user ids
are the GroupLens ids as strings. Item records: `title` in GroupLens style "Title (Year)",
`year` (int or None), `genres` (list of str) and `categories` ([genres], the same
list-of-paths shape as the Amazon sets, so text builders can treat every set alike).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data._sequences import MIN_LEN, RawSequences, check_known, read_sequences
from genrec.data._text import available, iter_lines, parse_uint
from genrec.data.dataset import Dataset
from genrec.errors import DataError

_YEAR = re.compile(r"\((\d{4})\)\s*$")


def load_movielens_1m(folder: Path) -> Dataset:
    movies = read_movies_dat(folder / "movies.dat")
    seqs = read_sequences(folder / "sequences.txt.gz")
    check_known(seqs, np.array(sorted(movies), dtype=np.int64), folder / "movies.dat")
    return _dataset(folder.name, seqs.user_ids, seqs.items, movies)


def load_movielens_100k(folder: Path) -> Dataset:
    movies = read_recbole_items(folder / "ml-100k.item")
    seqs = read_recbole_inter(folder / "ml-100k.inter.gz", movies, "ml-100k.item")
    return _dataset(folder.name, seqs.user_ids, seqs.items, movies)


def _dataset(
    name: str, user_ids: list[str], raw: list[np.ndarray], movies: dict[int, dict[str, Any]]
) -> Dataset:
    """Number items by first appearance in the concatenated sequences."""
    flat = np.concatenate(raw)
    ids, first = np.unique(flat, return_index=True)
    order = ids[np.argsort(first)]  # raw movie ids, first seen first
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.searchsorted(ids, order)] = np.arange(len(order))
    return Dataset(
        name=name,
        item_ids=[str(m) for m in order],
        user_ids=user_ids,
        sequences=[rank[np.searchsorted(ids, s)] for s in raw],
        items=[movies[int(m)] for m in order],
    )


def _record(title: str, year: int | None, genres: list[str]) -> dict[str, Any]:
    return {"title": title, "year": year, "genres": genres, "categories": [genres]}


def read_movies_dat(path: Path) -> dict[int, dict[str, Any]]:
    """GroupLens `MovieID::Title (Year)::Genre|Genre` lines (this copy is UTF-8)."""
    movies: dict[int, dict[str, Any]] = {}
    for line, text in iter_lines(path):
        if not text.strip():
            continue
        fields = text.split("::")
        if len(fields) != 3:
            raise DataError(f"expected 3 '::'-separated fields, found {len(fields)}", path=path,
                            line=line, value=text)
        movie = parse_uint(fields[0], path, line, "MovieID")
        _no_duplicate(movies, movie, path, line)
        year = _YEAR.search(fields[1])
        genres = [g for g in fields[2].split("|") if g]
        movies[movie] = _record(fields[1].strip(), int(year.group(1)) if year else None, genres)
    return movies


def _no_duplicate(seen: dict[int, Any], key: int, path: Path, line: int) -> None:
    if key in seen:
        raise DataError("duplicate item id", path=path, line=line, field="item_id", value=key)


def _recbole_header(text: str, path: Path, required: tuple[str, ...]) -> list[str]:
    """Column names of a RecBole header (`name:type` tab-separated), type tags stripped."""
    names = [f.split(":", 1)[0].strip() for f in text.split("\t")]
    for col in required:
        if col not in names:
            raise DataError(f"missing column {col!r}; available: {available(names)}",
                            path=path, line=1, field=col)
    return names


def _recbole_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, {column: value}) for each data row, checking the field count."""
    names: list[str] = []
    for line, text in iter_lines(path):
        if line == 1:
            names = _recbole_header(text, path, required)
            continue
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != len(names):
            raise DataError(f"expected {len(names)} tab-separated fields, found {len(fields)}",
                            path=path, line=line, value=text)
        yield line, dict(zip(names, fields, strict=True))


def read_recbole_items(path: Path) -> dict[int, dict[str, Any]]:
    """`ml-100k.item`: title and year are separate columns; rebuild "Title (Year)"."""
    movies: dict[int, dict[str, Any]] = {}
    for line, row in _recbole_rows(path, ("item_id", "movie_title")):
        movie = parse_uint(row["item_id"], path, line, "item_id")
        _no_duplicate(movies, movie, path, line)
        year_text = row.get("release_year", "").strip()
        year = int(year_text) if re.fullmatch(r"\d{4}", year_text) else None
        title = row["movie_title"].strip()
        movies[movie] = _record(f"{title} ({year})" if year else title, year,
                                row.get("class", "").split())
    return movies


def read_recbole_inter(path: Path, known: dict[int, Any], items_file: str) -> RawSequences:
    """`ml-100k.inter`: users ascending by id, each user's ratings stably sorted by timestamp."""
    users, items, times, lines = [], [], [], []
    for line, row in _recbole_rows(path, ("user_id", "item_id", "timestamp")):
        users.append(parse_uint(row["user_id"], path, line, "user_id"))
        items.append(parse_uint(row["item_id"], path, line, "item_id"))
        if items[-1] not in known:
            raise DataError(f"item id has no record in {items_file}", path=path, line=line,
                            field="item_id", value=row["item_id"])
        times.append(_float(row["timestamp"], path, line, "timestamp"))
        lines.append(line)
    u, i, t, ln = (np.array(a) for a in (users, items, times, lines))
    order = np.argsort(t, kind="stable")  # stable: same-second ratings keep file order
    order = order[np.argsort(u[order], kind="stable")]
    u, i, ln = u[order], i[order], ln[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(u)) + 1))
    out = RawSequences(path, [], [], [])
    for seq, first, user in zip(np.split(i, starts[1:]), starts, u[starts], strict=True):
        if len(seq) < MIN_LEN:
            raise DataError(f"user has {len(seq)} items; leave-one-out needs at least {MIN_LEN}",
                            path=path, line=int(ln[first:first + len(seq)].min()),
                            field="user_id", value=str(user))
        out.user_ids.append(str(user))
        out.items.append(seq.astype(np.int64))
        out.lines.append(int(ln[first:first + len(seq)].min()))
    return out


def _float(text: str, path: Path, line: int, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError("expected a number", path=path, line=line, field=field,
                        value=text) from None
