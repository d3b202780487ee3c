"""The in-memory dataset every stage reads: items with text, per-user chronological sequences."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Items and users, both indexed 0..n-1 internally.

    `sequences[u]` holds user u's item indices, oldest first. External ids (as found in the
    source files) are kept in `item_ids` / `user_ids` so results can be reported in them.
    """

    name: str
    item_ids: list[str]  # external id of item i
    user_ids: list[str]  # external id of user u
    sequences: list[np.ndarray]  # int64 item indices per user, chronological
    items: list[dict[str, Any]] = field(default_factory=list)  # text fields per item, or []

    def __post_init__(self) -> None:
        if self.items and len(self.items) != len(self.item_ids):
            raise ValueError(f"{len(self.items)} item records for {len(self.item_ids)} item ids")
        if len(self.sequences) != len(self.user_ids):
            raise ValueError(f"{len(self.sequences)} sequences for {len(self.user_ids)} users")
        self._index: dict[str, int] | None = None

    def __repr__(self) -> str:  # one line: the default would print every sequence
        return (f"Dataset({self.name!r}, users={self.n_users}, items={self.n_items}, "
                f"interactions={self.n_interactions}, text={self.has_text})")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    @property
    def has_text(self) -> bool:
        return bool(self.items)

    def index_of(self, item_id: str | int) -> int:
        """Internal index of an external item id; KeyError naming the id if unknown."""
        if self._index is None:
            self._index = {iid: i for i, iid in enumerate(self.item_ids)}
        try:
            return self._index[str(item_id)]
        except KeyError:
            raise KeyError(f"unknown item id {item_id!r} in dataset {self.name!r}") from None

    def title(self, item: int) -> str:
        """Readable title of item index `item` (HTML entities unescaped), or its external id."""
        if self.items:
            t = self.items[item].get("title")
            if t:
                return html.unescape(str(t)).replace("\n", " ").strip()
        return self.item_ids[item]

    def split(self) -> Split:
        return leave_one_out(self)

    def summary(self) -> dict[str, Any]:
        lengths = np.array([len(s) for s in self.sequences]) if self.sequences else np.zeros(1)
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "seq_len_min": int(lengths.min()),
            "seq_len_max": int(lengths.max()),
            "seq_len_mean": round(float(lengths.mean()), 2),
            "has_text": self.has_text,
        }


@dataclass
class Split:
    """Leave-one-out: per user, `train` ends before the last two items.

    valid target = sequence[-2] with history sequence[:-2];
    test target = sequence[-1] with history sequence[:-1] (validation item included, as is usual).
    Training never sees either target: `train[u]` is sequence[:-2].
    """

    train: list[np.ndarray]
    valid_history: list[np.ndarray]
    valid_target: np.ndarray  # int64 [n_users]
    test_history: list[np.ndarray]
    test_target: np.ndarray  # int64 [n_users]


def leave_one_out(ds: Dataset) -> Split:
    """Split every user's sequence; users need >= 3 items (one train, one valid, one test)."""
    short = [ds.user_ids[u] for u, s in enumerate(ds.sequences) if len(s) < 3]
    if short:
        raise ValueError(
            f"{len(short)} users have fewer than 3 interactions (first: {short[0]!r}); "
            "leave-one-out needs 3 — filter with k-core >= 3"
        )
    seqs = ds.sequences
    return Split(
        train=[s[:-2] for s in seqs],
        valid_history=[s[:-2] for s in seqs],
        valid_target=np.array([s[-2] for s in seqs], dtype=np.int64),
        test_history=[s[:-1] for s in seqs],
        test_target=np.array([s[-1] for s in seqs], dtype=np.int64),
    )
