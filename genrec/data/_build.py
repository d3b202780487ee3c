"""Turn raw (user, item, time) rows into a Dataset: group, sort, k-core, number by first appearance.

This is the S3-Rec `data_process.py` recipe, vectorised with numpy so million-row inputs stay fast:

1. users are ordered by their first appearance in the input (file order);
2. each user's rows are sorted by time with a *stable* sort, so ties (and inputs without a time
   column) keep file order;
3. iterative k-core: drop users and items with fewer than k interactions until none is left.
   Counts are interactions, so a repeated (user, item) pair counts twice, as in S3-Rec;
4. items are numbered by first appearance in the resulting user-grouped, time-sorted stream.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genrec.data.dataset import Dataset
from genrec.errors import DataError

log = logging.getLogger("genrec.data")


@dataclass
class LoadReport:
    """Counted skips and final sizes of one load, logged so nothing is dropped silently."""

    source: str
    rows: int = 0  # interactions read from the input
    unknown_items_dropped: int = 0  # rows naming an item absent from the items file
    kcore_rounds: int = 0
    kcore_users_removed: int = 0
    kcore_items_removed: int = 0
    kcore_interactions_removed: int = 0
    items_without_text: int = 0  # kept items with no record in the items/meta file
    short_users: int = 0  # users left with < 3 items: leave-one-out will refuse them
    users: int = 0
    items: int = 0
    interactions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log(self) -> None:
        skips = {k: v for k, v in self.as_dict().items() if k.endswith(("removed", "dropped"))}
        log.info(
            "%s: %d rows -> %d users, %d items, %d interactions; skipped %s",
            self.source, self.rows, self.users, self.items, self.interactions, skips,
        )
        if self.items_without_text:
            log.warning("%s: %d items have no text record", self.source, self.items_without_text)
        if self.short_users:
            log.warning(
                "%s: %d users have fewer than 3 interactions; leave-one-out needs 3 "
                "(use k_core >= 3)", self.source, self.short_users,
            )


def codes_by_first_appearance(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer code per value (0.. in order of first appearance) and the distinct values."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64, len(values))
    return codes, list(index)


def kcore_mask(users: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Rows kept by iterative k-core on both users and items, and the number of rounds run."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:  # every present user/item already has >= 1 interaction
        return keep, 0
    n_users, n_items = int(users.max(initial=-1)) + 1, int(items.max(initial=-1)) + 1
    rounds = 0
    while True:
        rounds += 1
        uc = np.bincount(users[keep], minlength=n_users)
        ic = np.bincount(items[keep], minlength=n_items)
        new = keep & (uc[users] >= k) & (ic[items] >= k)
        if new.sum() == keep.sum():
            return keep, rounds
        keep = new


def assemble(
    name: str,
    users: list[str],
    items: list[str],
    times: np.ndarray | None,
    k_core: int,
    report: LoadReport,
) -> tuple[Dataset, np.ndarray]:
    """Build the Dataset from rows in file order; also return kept item codes per index.

    The second value maps each internal item index to its code in `codes_by_first_appearance`
    of `items` (callers use it to attach item text).
    """
    ucode, user_names = codes_by_first_appearance(users)
    icode, item_names = codes_by_first_appearance(items)
    keep, report.kcore_rounds = kcore_mask(ucode, icode, k_core)
    report.kcore_interactions_removed = int((~keep).sum())
    report.kcore_users_removed = len(user_names) - len(np.unique(ucode[keep]))
    report.kcore_items_removed = len(item_names) - len(np.unique(icode[keep]))
    if not keep.any():
        raise DataError(
            f"no interactions left after {k_core}-core filtering of {len(users)} rows "
            "(every user and item needs >= k_core interactions); lower k_core",
            path=report.source,
        )
    rows = np.flatnonzero(keep)
    if times is not None:  # stable sorts: time first, then user, so ties keep file order
        rows = rows[np.argsort(times[rows], kind="stable")]
    rows = rows[np.argsort(ucode[rows], kind="stable")]
    return _number(name, ucode[rows], icode[rows], user_names, item_names, report)


def _number(
    name: str,
    ucode: np.ndarray,
    icode: np.ndarray,
    user_names: list[str],
    item_names: list[str],
    report: LoadReport,
) -> tuple[Dataset, np.ndarray]:
    """Renumber kept users/items densely by first appearance in the grouped, sorted stream."""
    kept_items, first = np.unique(icode, return_index=True)
    item_order = kept_items[np.argsort(first)]  # item codes in order of first appearance
    remap = np.empty(len(item_names), dtype=np.int64)
    remap[item_order] = np.arange(len(item_order))
    seq_items = remap[icode]
    # ucode is grouped and ascending (user codes follow file order), so split at changes.
    bounds = np.flatnonzero(np.diff(ucode)) + 1
    user_order = ucode[np.concatenate(([0], bounds))]
    ds = Dataset(
        name=name,
        item_ids=[item_names[c] for c in item_order],
        user_ids=[user_names[c] for c in user_order],
        sequences=[s.copy() for s in np.split(seq_items, bounds)],
    )
    report.users, report.items, report.interactions = ds.n_users, ds.n_items, ds.n_interactions
    report.short_users = sum(len(s) < 3 for s in ds.sequences)
    return ds, item_order
