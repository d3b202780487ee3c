"""Reader for benchmark `sequences.txt(.gz)` files: one user per line, `user item item ...`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrec.data._text import iter_lines, parse_uint_line
from genrec.errors import DataError

MIN_LEN = 3  # leave-one-out needs one training, one validation and one test item


@dataclass
class RawSequences:
    """User ids and their raw (file) item ids, with the line each user came from."""

    path: Path
    user_ids: list[str]
    items: list[np.ndarray]  # raw item ids as written in the file, oldest first
    lines: list[int]


def read_sequences(path: Path) -> RawSequences:
    """Parse and check a sequences file: integers only, unique users, >= 3 items per user."""
    out = RawSequences(path, [], [], [])
    first_line: dict[int, int] = {}
    for line, text in iter_lines(path):
        if not text.strip():
            continue  # blank lines (e.g. a trailing one) carry nothing
        ids = parse_uint_line(text, path, line)
        user = ids[0]
        if user in first_line:
            raise DataError(f"duplicate user id (first on line {first_line[user]})",
                            path=path, line=line, field="user_id", value=str(user))
        if len(ids) - 1 < MIN_LEN:
            raise DataError(
                f"user has {len(ids) - 1} items; leave-one-out needs at least {MIN_LEN}",
                path=path, line=line, field="user_id", value=str(user),
            )
        first_line[user] = line
        out.user_ids.append(str(user))
        out.items.append(np.array(ids[1:], dtype=np.int64))
        out.lines.append(line)
    return out


def check_known(seqs: RawSequences, known: np.ndarray, where: Path) -> None:
    """DataError naming file, line and id for the first sequence item not in `known` (sorted)."""
    if not seqs.items:
        raise DataError("no sequences", path=seqs.path)
    flat = np.concatenate(seqs.items)
    pos = np.minimum(np.searchsorted(known, flat), len(known) - 1)
    ok = known[pos] == flat
    if ok.all():
        return
    bad = int(np.argmin(ok))
    user = int(np.searchsorted(np.cumsum([len(s) for s in seqs.items]), bad, side="right"))
    raise DataError(f"item id has no record in {where.name}", path=seqs.path,
                    line=seqs.lines[user], field="item_id", value=str(flat[bad]))
