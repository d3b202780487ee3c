"""The catalogue's changes since training, in `run/catalog.sqlite` (embedded, crash-safe).

Only changes are stored: items added after training (row, id, record, semantic ID) and ids
retired from recommendation. Every change is one transaction, committed (WAL, synchronous=FULL)
before it is acknowledged, so an acknowledged change survives a restart, a crash or a power cut.
The trained items themselves stay in the run's index and items.json.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrec.errors import GenrecError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS added (
    row INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, record TEXT NOT NULL,
    codes TEXT NOT NULL, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired (id TEXT PRIMARY KEY, retired_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class AddedRow:
    row: int  # catalogue row (trained items are 0 .. n_trained - 1)
    id: str
    record: dict[str, Any]
    codes: list[int]


class CatalogStore:
    """One SQLite file per run; writes are serialised by the caller (Catalog's lock)."""

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._check_fingerprint(fingerprint)
        self.version()  # recorded before the first change, so changes never count themselves

    def _check_fingerprint(self, fingerprint: str) -> None:
        """Added codes only make sense against the index they were made beside."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'index'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('index', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            raise GenrecError(f"{self.path} records changes to another index (fingerprint "
                              f"{row[0]}, this index {fingerprint}): move it away to start over")

    def version(self) -> int:
        """Changes committed so far, by any process: the catalogue version, which survives
        restarts (stores from before it was kept start at their change count)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        if row is not None:
            return int(row[0])
        (added,) = self.db.execute("SELECT COUNT(*) FROM added").fetchone()
        (retired,) = self.db.execute("SELECT COUNT(*) FROM retired").fetchone()
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)",
                        (str(added + retired),))
        return int(added + retired)

    def _bump(self) -> int:
        """Inside a transaction: the next version, recorded."""
        version = self.version() + 1
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(version),))
        return version

    def bump(self) -> int:
        """A new version with no item change (the model was reloaded)."""
        with self._transaction():
            return self._bump()

    def added(self) -> list[AddedRow]:
        rows = self.db.execute("SELECT row, id, record, codes FROM added ORDER BY row")
        return [AddedRow(r, i, json.loads(rec), json.loads(c)) for r, i, rec, c in rows]

    def retired(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM retired")}

    def add(self, rows: Sequence[AddedRow], restored: Sequence[str]) -> int:
        """New rows and re-listed retired ids, in one transaction; returns the new version."""
        now = time.time()
        with self._transaction():
            self.db.executemany(
                "INSERT INTO added VALUES (?, ?, ?, ?, ?)",
                [(r.row, r.id, json.dumps(r.record), json.dumps(r.codes), now) for r in rows])
            self.db.executemany("DELETE FROM retired WHERE id = ?", [(i,) for i in restored])
            return self._bump()

    def retire(self, ids: Sequence[str]) -> int:
        now = time.time()
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?)",
                                [(i, now) for i in ids])
            return self._bump()

    def _transaction(self) -> _Tx:
        return _Tx(self.db)

    def close(self) -> None:
        self.db.close()


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (a second writer process fails fast)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
