"""A run's live catalogue: the trained items plus items added since, minus retired ones.

Every change builds a new immutable Snapshot (codes, active mask, constraint trie, serving
model) and then swaps one reference, so a request that took a snapshot finishes on it even if
items are added, retired or the model is reloaded meanwhile. Changes are committed to
run/catalog.sqlite before the swap (persist=True) and replayed on open.

    cat = Catalog(run_dir, persist=False)        # in memory, e.g. a cold-start experiment
    cat.add([{"id": "new-1", "title": "...", "brand": "...", "categories": [[...]]}])
    rec = cat.snapshot.rec                       # a Recommender over the live catalogue;
    rec.recommend_fn()                           # rows: snapshot.row_of[id] (new rows follow)

New items have no learned item embedding; where the model uses them they read the mean of the
trained items under their longest shared code prefix (the nearest semantic neighbours).
"""

from __future__ import annotations

import copy
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrec.catalog_snapshot import ItemConflict, Snapshot, UnknownItem
from genrec.coldstart import ColdStart, load_coldstart, load_content, neighbour_rows, unit
from genrec.errors import GenrecError
from genrec.explain import LabelMaker, codes_fingerprint, labels_for
from genrec.io import read_json
from genrec.model.model import GenerativeRecommender
from genrec.model.recommender import Recommender
from genrec.run import run_eval_config
from genrec.semantic_ids import SemanticIndex
from genrec.semantic_ids.assign import CodingError, NewItemCoder, assign_codes
from genrec.store import AddedRow, CatalogStore

TEXT_FIELDS = ("brand", "categories", "genres")
SYNC_SECONDS = 0.5  # how stale a persisting catalogue may be behind another process's change
log = logging.getLogger("genrec.catalog")
__all__ = ["Added", "Catalog", "ItemConflict", "Snapshot", "UnknownItem", "clean_record",
           "run_records"]


@dataclass(frozen=True)
class Added:
    id: str
    row: int
    semantic_id: list[int]
    restored: bool  # a retired item listed again (it keeps its old semantic ID)


class Catalog:
    def __init__(self, run_dir: str | Path, *, persist: bool = True, model: bool = True,
                 explain: bool = False, beam: int | None = None,
                 data_dir: str | Path | None = None, coldstart: ColdStart | None = None) -> None:
        """persist=False: changes stay in memory and nothing is written into the run (labels
        missing from the run are built in memory); persist=True: changes commit to
        run/catalog.sqlite, and changes other processes commit there are picked up.
        coldstart: how added items are scored (default: the run's coldstart.json, written by
        benchmarks/coldstart.py select, else genrec.coldstart's defaults)."""
        self.run_dir = Path(run_dir)
        self.index = SemanticIndex.load(self.run_dir / "index")
        self.fingerprint = codes_fingerprint(self.index.codes)
        eval_cfg = run_eval_config(self.run_dir)
        self.beam, self.item_weight = beam or eval_cfg.beam, eval_cfg.item_weight
        self.persist = persist
        self.coldstart = coldstart or load_coldstart(self.run_dir)
        self._lock = threading.Lock()  # one writer at a time; readers never wait
        self._coder_lock = threading.Lock()
        self._coder: NewItemCoder | None = None
        self._extra: dict[int, torch.Tensor] = {}  # new row -> item-embedding row
        self._store = self._open_store(create=False)  # replayed even when not persisting
        base = run_records(self.run_dir, data_dir if explain else None, self.index.item_ids)
        self._maker: LabelMaker | None = None
        self._snap = self._initial(base, model, explain)
        self._next_sync = time.monotonic() + SYNC_SECONDS

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot (one reference read: callers keep using what they got); at
        most every SYNC_SECONDS it first picks up changes other processes committed."""
        if self.persist and time.monotonic() >= self._next_sync:
            self._next_sync = time.monotonic() + SYNC_SECONDS
            if self._lock.acquire(blocking=False):  # a writer syncs anyway: don't wait
                try:
                    self._sync()
                except (GenrecError, sqlite3.Error, OSError) as err:
                    log.warning("catalogue: cannot read %s: %s", self.run_dir, err)
                finally:
                    self._lock.release()
        return self._snap

    # --- changes -----------------------------------------------------------------------------
    def add(self, records: Sequence[dict[str, Any]]) -> list[Added]:
        """Add (or re-list retired) items; all or nothing. ItemConflict for an active id."""
        records = [clean_record(r, i) for i, r in enumerate(records)]
        _no_repeats([r["id"] for r in records])
        first = self._snap
        fresh = [r for r in records if r["id"] not in first.row_of]
        vectors = self.coder().vectors(fresh) if fresh else None  # slow part, outside the lock
        with self._lock:
            self._sync()  # rows another process added meanwhile come first
            snap = self._snap
            if any(r["id"] in snap.row_of for r in fresh):  # ... and may be some of ours
                keep = [j for j, r in enumerate(fresh) if r["id"] not in snap.row_of]
                fresh = [fresh[j] for j in keep]
                vectors = vectors[keep] if vectors is not None else None
            restored = self._check_addable(snap, records, {r["id"] for r in fresh})
            codes = self._code(snap, fresh, vectors)
            n = len(snap.item_ids)
            rows = [AddedRow(n + j, r["id"], r, c.tolist())  # a given vector is kept: replay
                    for j, (r, c) in enumerate(zip(fresh, codes, strict=True))]
            new = self._with_rows(snap, rows, restored, vectors)
            self._snap = self._commit(new, lambda store: store.add(rows, restored))
        done = [Added(r.id, r.row, r.codes, False) for r in rows]
        return done + [Added(i, new.row_of[i], new.codes[new.row_of[i]].tolist(), True)
                       for i in restored]

    def retire(self, ids: Sequence[str]) -> None:
        """Stop recommending these items (they stay readable in histories). All or nothing."""
        ids = [str(i) for i in ids]
        with self._lock:
            self._sync()
            snap = self._snap
            rows = snap.rows(ids, "ids")
            gone = [ids[j] for j, r in enumerate(rows) if not snap.active[r]]
            if gone:
                raise UnknownItem(f"item {gone[0]!r} is already removed", "id")
            active = snap.active.copy()
            active[rows] = False
            new = self._derive(snap, active=active)
            self._snap = self._commit(new, lambda store: store.retire(ids))

    def reload_model(self, model: GenerativeRecommender | None = None) -> Snapshot:
        """Swap in `model` (default: the run folder's model.safetensors, e.g. retrained)."""
        from genrec.run import load_model

        model = model or load_model(self.run_dir)
        with self._lock:
            self._extra = {}
            snap = self._snap
            new = self._derive(snap, model=model, model_version=snap.model_version + 1)
            self._snap = self._commit(new, lambda store: store.bump())
        return self._snap

    def coder(self) -> NewItemCoder:
        with self._coder_lock:
            if self._coder is None:
                self._coder = NewItemCoder(self.run_dir / "index", self.index.method)
            return self._coder

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def sync(self) -> Snapshot:
        """Pick up changes other processes committed to run/catalog.sqlite now."""
        with self._lock:
            self._sync()
        return self._snap

    # --- internals ----------------------------------------------------------------------------
    def _initial(self, base: list[dict[str, Any]], model: bool, explain: bool) -> Snapshot:
        from genrec.run import load_model

        codes = self.index.codes
        labels = labels_for(self.run_dir / "index", codes, base, save=self.persist) \
            if explain else None
        snap = Snapshot(0, 0, list(self.index.item_ids), base,
                        {i: r for r, i in enumerate(self.index.item_ids)}, codes,
                        np.ones(len(codes), dtype=bool), len(codes), None, labels,
                        load_content(self.run_dir / "index", len(codes)), self.coldstart)
        added = self._store.added() if self._store is not None else []
        retired = self._store.retired() if self._store is not None else set()
        if [r.row for r in added] != list(range(len(codes), len(codes) + len(added))):
            raise GenrecError(f"{self._store.path}: added rows do not follow the index's "
                              f"{len(codes)} items; it belongs to another run")
        if added:
            snap = self._with_rows(snap, added, [], self._replayed_vectors(snap, added),
                                   build=False)
        active = snap.active.copy()
        active[[snap.row_of[i] for i in retired if i in snap.row_of]] = False
        snap = self._derive(snap, active=active,
                            model=load_model(self.run_dir) if model else None)
        # the stored version: a restart never answers with a lower catalog_version
        return replace(snap, version=self._store.version() if self._store is not None else 0)

    def _check_addable(self, snap: Snapshot, records: list[dict], fresh: set[str]) -> list[str]:
        restored = []
        for i, r in enumerate(records):
            row = snap.row_of.get(r["id"])
            if row is not None and (snap.active[row] or r["id"] in fresh):
                raise ItemConflict(f"items[{i}].id: item {r['id']!r} is already in the "
                                   "catalogue", f"items[{i}].id")
            if row is not None:
                restored.append(r["id"])
        return restored

    def _code(self, snap: Snapshot, fresh: list[dict], vectors: np.ndarray | None
              ) -> np.ndarray:
        if not fresh:
            return np.zeros((0, snap.codes.shape[1]), dtype=np.int64)
        raw, cost = self.coder().quantizer.encode_with_cost(vectors)
        return assign_codes(raw, cost, snap.codes, self.index.level_sizes,
                            [r["id"] for r in fresh])

    def _replayed_vectors(self, snap: Snapshot, added: Sequence[AddedRow]) -> np.ndarray | None:
        """Content vectors of items added before a restart: a stored `vector`, else the text
        re-embedded (MiniLM is deterministic, so the same vector as before)."""
        if snap.content is None:
            return None
        try:
            return self.coder().vectors([r.record for r in added])
        except CodingError:  # vector-only items whose vectors were not kept
            return None

    def _with_rows(self, snap: Snapshot, rows: Sequence[AddedRow], restored: Sequence[str],
                   vectors: np.ndarray | None = None, build: bool = True) -> Snapshot:
        """snap plus appended rows (copy-on-write) and re-listed ids."""
        records = snap.records + [r.record for r in rows]
        ids = snap.item_ids + [r.id for r in rows]
        row_of = dict(snap.row_of) | {r.id: r.row for r in rows}
        width = snap.codes.shape[1]
        new_codes = np.array([r.codes for r in rows], dtype=np.int64).reshape(-1, width)
        codes = np.concatenate([snap.codes, new_codes])
        active = np.concatenate([snap.active, np.ones(len(rows), dtype=bool)])
        active[[row_of[i] for i in restored]] = True
        labels = snap.labels
        if labels is not None and rows:
            labels = labels.extend(new_codes, [r.record for r in rows], self._label_maker(snap))
        content = snap.content  # kept only while every row has its vector
        if rows:
            content = None if content is None or vectors is None else np.concatenate(
                [content, unit(vectors)])
        grown = replace(snap, item_ids=ids, records=records, row_of=row_of, codes=codes,
                        labels=labels, content=content)
        if not build:
            return replace(grown, active=active)
        return self._derive(grown, active=active, model=snap.rec.model if snap.rec else None,
                            rebuild=True)

    def _derive(self, snap: Snapshot, *, active: np.ndarray | None = None,
                model: GenerativeRecommender | None = None, model_version: int | None = None,
                rebuild: bool = False) -> Snapshot:
        """The next snapshot: a new trie when rows or the model changed, else a new mask."""
        active = snap.active if active is None else active
        rec = snap.rec
        if model is not None and (rebuild or rec is None or model is not rec.model):
            rec = self._recommender(_base_model(model), snap, active)
        elif rec is not None:
            rec = copy.copy(rec)
            rec.constraint = rec.constraint.with_active(active)
            rec.invalid = deque(maxlen=100)
        return replace(snap, version=snap.version + 1, active=active, rec=rec,
                       model_version=snap.model_version if model_version is None
                       else model_version)

    def _recommender(self, model: GenerativeRecommender, snap: Snapshot, active: np.ndarray
                     ) -> Recommender:
        serving = self._serving_model(model, snap.codes, snap.content)
        index = replace(self.index, codes=snap.codes, item_ids=snap.item_ids)
        rec = Recommender(serving, index, beam=self.beam,
                          item_weight=self.item_weight)
        if not active.all():
            rec.constraint = rec.constraint.with_active(active)
        rec.invalid = deque(maxlen=100)  # the service answers forever: keep the list bounded
        return rec

    def _serving_model(self, model: GenerativeRecommender, codes: np.ndarray,
                       content: np.ndarray | None) -> GenerativeRecommender:
        """`model` with item-embedding rows for new items (shares every other weight)."""
        n_trained = self.index.n_items
        if model.item is None or len(codes) == n_trained:
            return model
        weight = model.item.weight.detach()
        todo = [row for row in range(n_trained, len(codes)) if row not in self._extra]
        if todo and content is not None:
            self._extra |= _content_rows(model, codes, content, todo, self.coldstart.neighbours)
        for row in todo:
            if row not in self._extra:
                self._extra[row] = _neighbour_mean(weight, self.index.codes, codes[row])
        extra = torch.stack([self._extra[r] for r in range(n_trained, len(codes))])
        serving = copy.copy(model)
        serving._modules = dict(model._modules)  # replace `item` on the copy only
        serving.item = nn.Embedding.from_pretrained(torch.cat([weight, extra]), freeze=True)
        object.__setattr__(serving, "_base", model)  # a rebuild starts from the trained model
        return serving

    def _label_maker(self, snap: Snapshot) -> LabelMaker:
        if self._maker is None:
            self._maker = LabelMaker(snap.records[: snap.n_trained])
        return self._maker

    def _open_store(self, create: bool) -> CatalogStore | None:
        path = self.run_dir / "catalog.sqlite"
        if not create and not path.exists():
            return None  # reading needs no file: it is made on the first change
        return CatalogStore(path, self.fingerprint)

    def _commit(self, new: Snapshot, write: Any) -> Snapshot:
        """`new` once `write(store)` committed, carrying the store's new version."""
        if not self.persist:
            return new
        if self._store is None:
            self._store = self._open_store(create=True)
        try:
            version = write(self._store)
        except sqlite3.IntegrityError as err:  # another process wrote between sync and commit
            raise ItemConflict(f"items: another process changed the catalogue at the same "
                               f"moment ({err}); try again", "items") from None
        except sqlite3.OperationalError as err:  # e.g. its lock held too long
            raise GenrecError(f"{self._store.path}: {err}; try again") from None
        return replace(new, version=version)

    def _sync(self) -> None:
        """Under the lock: apply what other processes committed since our last change."""
        if not self.persist:
            return
        if self._store is None:
            if not (self.run_dir / "catalog.sqlite").exists():
                return
            self._store = self._open_store(create=False)
        version = self._store.version()
        snap = self._snap
        if version == snap.version:
            return
        rows = [r for r in self._store.added() if r.row >= len(snap.item_ids)]
        if [r.row for r in rows] != list(range(len(snap.item_ids),
                                               len(snap.item_ids) + len(rows))):
            raise GenrecError(f"{self._store.path}: rows out of order; restart to reload it")
        if rows:
            snap = self._with_rows(snap, rows, [], self._replayed_vectors(snap, rows),
                                   build=False)
        active = np.ones(len(snap.item_ids), dtype=bool)
        active[[snap.row_of[i] for i in self._store.retired() if i in snap.row_of]] = False
        model = snap.rec.model if snap.rec is not None and rows else None
        new = self._derive(snap, active=active, model=model, rebuild=bool(rows))
        self._snap = replace(new, version=version)


def _base_model(model: GenerativeRecommender) -> GenerativeRecommender:
    return getattr(model, "_base", model)


def _content_rows(model: GenerativeRecommender, codes: np.ndarray, content: np.ndarray,
                  rows: list[int], neighbours: int) -> dict[int, torch.Tensor]:
    """Item-embedding rows that make each new item's full vector (its code embeddings plus
    this row) the mean of its content-nearest trained items' vectors, input and output alike."""
    n_trained = model.item.num_embeddings
    near = neighbour_rows(content[rows], content[:n_trained], neighbours)  # [M, k]
    with torch.no_grad():
        table = model.item_table(torch.from_numpy(codes[:n_trained]))  # [T, d]
        own = model.code_vectors(torch.from_numpy(codes[rows]))
        extra = table[torch.from_numpy(near)].mean(1) - own
    return dict(zip(rows, extra, strict=True))


def _neighbour_mean(weight: torch.Tensor, trained: np.ndarray, code: np.ndarray) -> torch.Tensor:
    """Mean learned item vector of the trained items sharing code's longest prefix."""
    for depth in range(trained.shape[1] - 1, 0, -1):
        hits = np.flatnonzero((trained[:, :depth] == code[:depth]).all(axis=1))
        if len(hits):
            return weight[torch.from_numpy(hits)].mean(0)
    return weight.mean(0)


def clean_record(record: dict[str, Any], i: int) -> dict[str, Any]:
    """A new item's record: id (str) and title required; the text fields kept; None dropped."""
    if not isinstance(record, dict):
        raise CodingError(f"items[{i}]: expected an object, got {type(record).__name__}",
                          f"items[{i}]")
    for key in ("id", "title"):
        if not str(record.get(key) or "").strip():
            raise CodingError(f"items[{i}].{key}: missing or empty", f"items[{i}].{key}")
    out = {k: v for k, v in record.items() if v is not None}
    return out | {"id": str(record["id"]).strip(), "title": str(record["title"]).strip()}


def _no_repeats(ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, item_id in enumerate(ids):
        if item_id in seen:
            raise ItemConflict(f"items[{i}].id: {item_id!r} appears twice in the request "
                               f"(also items[{seen[item_id]}])", f"items[{i}].id")
        seen[item_id] = i


def run_records(run_dir: Path, data_dir: str | Path | None, item_ids: list[str]
                ) -> list[dict[str, Any]]:
    """items.json ({id, title, text fields}), in index order; titles-only files are enriched
    from the run's dataset when `data_dir` (or GENREC_DATA) finds it, for better labels."""
    items = read_json(run_dir / "items.json")
    if [str(it["id"]) for it in items] != item_ids:
        raise GenrecError(f"{run_dir}/items.json does not list the index's items in order")
    records = [{**it, "id": str(it["id"])} for it in items]
    if data_dir is not None and not any(f in r for r in records[:100] for f in TEXT_FIELDS):
        _enrich(records, run_dir, data_dir)
    return records


def _enrich(records: list[dict[str, Any]], run_dir: Path, data_dir: str | Path) -> None:
    from genrec.run import RunConfig, load_run_dataset

    try:
        ds = load_run_dataset(RunConfig.from_dict(read_json(run_dir / "config.json")), data_dir)
    except (GenrecError, OSError, KeyError, ValueError, TypeError):
        return  # labels from titles alone
    if not ds.items:
        return
    row = {iid: i for i, iid in enumerate(ds.item_ids)}
    for rec in records:
        src = ds.items[row[rec["id"]]] if rec["id"] in row else {}
        rec.update({f: src[f] for f in TEXT_FIELDS if src.get(f)})
