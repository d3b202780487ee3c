"""In-memory indexes behind the web page: item search (GET /items?q=) and the semantic-ID
hierarchy (GET /tree). Both are built once per catalogue and answer with numpy slices, not a
scan of every record per request, so they stay within milliseconds on a 12k-item catalogue.
"""

from __future__ import annotations

import html
import re
import threading
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genrec.catalog import Snapshot

_TOKEN = re.compile(r"[0-9a-z]+")
EXAMPLES = 3  # example titles per tree node
SHORT = 2  # query words this short have their rows cached
TREE_CACHE = 1024  # /tree answers kept per catalogue version


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words: "L'Oréal Paris, 5-pack" -> ["l", "or", "al", ...]."""
    return _TOKEN.findall(html.unescape(text).lower())


def _item_text(record: dict[str, Any]) -> str:
    return f"{record.get('id', '')} {record.get('title') or ''} {record.get('brand') or ''}"


class WordIndex:
    """Word -> rows, with every row's words stored contiguously in vocabulary order: the rows
    having a word that starts with a prefix are one slice (two bisections, then np.unique)."""

    def __init__(self, records: Sequence[dict[str, Any]], ids: Sequence[str],
                 first_row: int = 0) -> None:
        postings: dict[str, list[int]] = {}
        for row, rec in enumerate(records, start=first_row):
            for word in set(tokens(_item_text(rec))) | {ids[row - first_row].lower()}:
                postings.setdefault(word, []).append(row)
        self.vocab = sorted(postings)
        sizes = np.fromiter((len(postings[w]) for w in self.vocab), dtype=np.int64,
                            count=len(self.vocab))
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.rows = np.fromiter((r for w in self.vocab for r in postings[w]), dtype=np.int64,
                                count=int(self.starts[-1]))
        self._short: dict[str, np.ndarray] = {}  # at most 36 + 36**2 entries

    def prefix(self, word: str) -> np.ndarray:
        """Sorted rows holding a word that starts with `word`."""
        if len(word) <= SHORT:  # the first keystrokes match most of the catalogue: kept
            hit = self._short.get(word)
            if hit is None:
                hit = self._short[word] = self._prefix(word)
            return hit
        return self._prefix(word)

    def _prefix(self, word: str) -> np.ndarray:
        lo, hi = bisect_left(self.vocab, word), bisect_left(self.vocab, word + "\uffff")
        return np.unique(self.rows[self.starts[lo]:self.starts[hi]])

    def exact(self, word: str) -> np.ndarray:
        i = bisect_left(self.vocab, word)
        if i == len(self.vocab) or self.vocab[i] != word:
            return np.zeros(0, dtype=np.int64)
        return self.rows[self.starts[i]:self.starts[i + 1]]


class ItemSearch:
    """Search by id, title or brand: every query word must start a word of the item (AND).
    Ranked: the id itself, then items holding every query word whole, then prefix matches;
    shorter titles first within each tier (they are the closer match)."""

    def __init__(self, snap: Snapshot) -> None:
        self.n_base = len(snap.item_ids)
        self.base = WordIndex(snap.records, snap.item_ids)
        self.title_len = np.array([len(r.get("title") or "") for r in snap.records],
                                  dtype=np.int64)
        self._extra: tuple[int, WordIndex, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _indexes(self, snap: Snapshot) -> tuple[list[WordIndex], np.ndarray]:
        """The base index plus one over rows added since it was built (rebuilt when they
        change; added items are few next to the catalogue)."""
        n = len(snap.item_ids)
        if n == self.n_base:
            return [self.base], self.title_len
        with self._lock:
            if self._extra is None or self._extra[0] != n:
                records = snap.records[self.n_base:n]
                extra = WordIndex(records, snap.item_ids[self.n_base:n], self.n_base)
                lengths = np.array([len(r.get("title") or "") for r in records], dtype=np.int64)
                self._extra = (n, extra, np.concatenate([self.title_len, lengths]))
            _, extra, lengths = self._extra
        return [self.base, extra], lengths

    def search(self, snap: Snapshot, query: str, limit: int, offset: int
               ) -> tuple[int, list[int]]:
        """(number of matches, rows of matches offset .. offset+limit in rank order)."""
        words = tokens(query)
        if not words:
            return 0, []
        indexes, lengths = self._indexes(snap)
        hits = _all_of([np.concatenate([ix.prefix(w) for ix in indexes]) for w in words])
        if not len(hits):
            return 0, []
        whole = _all_of([np.concatenate([ix.exact(w) for ix in indexes]) for w in words])
        tier = np.where(np.isin(hits, whole, assume_unique=True), 1, 2)
        own = snap.row_of.get(query.strip())
        if own is not None:
            tier[hits == own] = 0
        order = np.lexsort((hits, lengths[hits], tier))
        return len(hits), hits[order[offset:offset + limit]].tolist()


def _all_of(sets: list[np.ndarray]) -> np.ndarray:
    out = np.unique(sets[0])
    for s in sets[1:]:
        out = np.intersect1d(out, s)
    return out


@dataclass(frozen=True)
class Node:
    code: int
    items: int
    active_items: int
    rows: list[int]  # up to EXAMPLES rows under the node (the item itself at the last level)


class Hierarchy:
    """The code tuples sorted lexicographically: a prefix's items are one contiguous range,
    found column by column with binary search; its children are the runs of the next column."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes  # kept to tell whether a snapshot still has these codes
        self.order = np.lexsort(codes.T[::-1])
        self.cols = [np.ascontiguousarray(codes[self.order, j]) for j in range(codes.shape[1])]

    @property
    def levels(self) -> int:
        return len(self.cols)

    def span(self, prefix: Sequence[int]) -> tuple[int, int]:
        lo, hi = 0, len(self.order)
        for j, code in enumerate(prefix):
            col = self.cols[j]
            lo, hi = (lo + int(np.searchsorted(col[lo:hi], code, "left")),
                      lo + int(np.searchsorted(col[lo:hi], code, "right")))
        return lo, hi

    def children(self, prefix: Sequence[int], active: np.ndarray) -> list[Node]:
        lo, hi = self.span(prefix)
        if lo == hi:
            return []
        col = self.cols[len(prefix)][lo:hi]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(col)) + 1])
        ends = np.append(starts[1:], hi - lo)
        rows = self.order[lo:hi]
        live = np.add.reduceat(active[rows].astype(np.int64), starts)
        return [Node(int(col[s]), int(e - s), int(a), rows[s:min(e, s + EXAMPLES)].tolist())
                for s, e, a in zip(starts.tolist(), ends.tolist(), live.tolist(), strict=True)]


class Browser:
    """Search and hierarchy for the live catalogue; each is rebuilt when rows are added."""

    def __init__(self, snap: Snapshot) -> None:
        self.search_index = ItemSearch(snap)
        self._tree = Hierarchy(snap.codes)
        self._lock = threading.Lock()
        self._answers: tuple[int, dict[str, Any]] = (snap.version, {})

    def cached(self, snap: Snapshot, key: str) -> Any:
        """A /tree answer already made for this catalogue version (the root is 256 nodes)."""
        version, answers = self._answers
        return answers.get(key) if version == snap.version else None

    def remember(self, snap: Snapshot, key: str, answer: Any) -> None:
        version, answers = self._answers
        if version != snap.version:
            answers = {}
            self._answers = (snap.version, answers)
        if len(answers) < TREE_CACHE:
            answers[key] = answer

    def tree(self, snap: Snapshot) -> Hierarchy:
        tree = self._tree
        if tree.codes is not snap.codes:  # rows were added: codes is a new array
            with self._lock:
                if self._tree.codes is not snap.codes:
                    self._tree = Hierarchy(snap.codes)
                tree = self._tree
        return tree

    def search(self, snap: Snapshot, query: str, limit: int, offset: int
               ) -> tuple[int, list[int]]:
        return self.search_index.search(snap, query, limit, offset)
