"""Answering recommendation queries over a catalogue snapshot: ids in, ranked items out.

The one code path behind `genrec recommend`, `genrec.load(run).recommend` and the service's
POST /recommend (which micro-batches queries into one call of answer_batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genrec.catalog import Snapshot, UnknownItem
from genrec.errors import GenrecError


@dataclass(frozen=True)
class Query:
    history: list[str]
    k: int = 10
    exclude: list[str] | None = None  # None: the history
    explain: bool = False
    fresh: int = 0  # slots for added items (Snapshot.recommend)


@dataclass
class _Ready:
    """A resolved query: rows the model reads, rows to exclude, notes for the response."""

    index: int
    rows: np.ndarray
    exclude: list[int]
    notes: list[str]
    total: int  # history length before truncation


def answer_batch(snap: Snapshot, queries: list[Query]) -> list[dict[str, Any] | Exception]:
    """One response body (or a per-request error) per query, from one snapshot."""
    out: list[dict[str, Any] | Exception | None] = [None] * len(queries)
    ready: list[_Ready] = []
    for i, q in enumerate(queries):
        try:
            ready.append(_resolve(snap, q, i))
        except UnknownItem as err:
            out[i] = err
    groups: dict[tuple[int, int, int], list[_Ready]] = {}
    for r in ready:  # a k above the beam widens the beam; fresh slots change the lists
        q = queries[r.index]
        key = (max(snap.rec.beam, q.k), q.fresh, q.k if q.fresh else 0)
        groups.setdefault(key, []).append(r)
    for (_, fresh, _), members in groups.items():
        k = max(queries[r.index].k for r in members)
        try:
            lists = snap.recommend([r.rows for r in members], k, [r.exclude for r in members],
                                   fresh=fresh)
        except GenrecError as err:  # e.g. fresh slots on a run without an item head
            for r in members:
                out[r.index] = err
            continue
        for r, found in zip(members, lists, strict=True):
            out[r.index] = _body(snap, queries[r.index], r, found)
    return out  # type: ignore[return-value]


def _resolve(snap: Snapshot, q: Query, i: int) -> _Ready:
    rows = snap.rows(q.history, "history")
    excl = snap.rows(q.exclude, "exclude") if q.exclude is not None else rows
    window = snap.window
    notes = []
    if len(rows) > window:
        notes.append(f"history: {len(rows)} items, the model reads the most recent {window}")
    return _Ready(i, rows[-window:], excl.tolist(), notes, len(rows))


def _body(snap: Snapshot, q: Query, r: _Ready, found: list[tuple[int, float]]
          ) -> dict[str, Any]:
    items = []
    for row, score in found[: q.k]:
        item = {"id": snap.item_ids[row], "score": round(score, 5),
                "title": snap.records[row].get("title") or snap.item_ids[row]}
        if q.explain:
            item["path"] = snap.path(row)
        items.append(item)
    notes = list(r.notes)
    if len(items) < q.k:
        notes.append(f"k: only {len(items)} items are left to recommend after exclusions")
    return {"items": items, "history_used": len(r.rows), "truncated": r.total > len(r.rows),
            "notes": notes, "catalog_version": snap.version, "model_version": snap.model_version}
