"""The Python API: a trained run in two lines, and each pipeline stage end to end.

    import genrec
    rec = genrec.load("runs/beauty")
    rec.recommend(["1", "2"], k=10)        # [{"id", "title", "score"}, ...], best first
    rec.explain("1")                       # "Makeup › Nails › OPI polish › #3"
    rec.add_items([{"id": "new-1", "title": "Red lipstick"}])

`genrec recommend/explain/add-items/remove-items/items` call these same functions, and the
service answers through the same Catalog and genrec.answer.answer_batch, so the three agree
(added items in, removed ones out). Nothing here imports the serving layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genrec.answer import Query, answer_batch
from genrec.catalog import Catalog, ItemConflict, UnknownItem, clean_record
from genrec.data import Dataset, load_dataset
from genrec.data.spec import DataConfig
from genrec.embed import item_text
from genrec.errors import DataError, GenrecError
from genrec.indexing import item_vectors, make_index
from genrec.io import read_json
from genrec.run import RunConfig, load_run_dataset
from genrec.semantic_ids import IndexConfig, SemanticIndex

__all__ = ["Run", "item_vectors", "load", "make_index"]

# `genrec run/train` without --config: the quick start's model under a 10-minute training
# budget, so own data trains in minutes whatever its size (a config file overrides all of it)
DEFAULT_RUN: dict[str, Any] = {
    "index": {"method": "rkmeans", "balance": True},
    "model": {"d_model": 128, "n_heads": 4, "d_ff": 512, "encoder_layers": 2,
              "decoder_layers": 2, "dropout": 0.2, "max_items": 20, "item_embeddings": True,
              "item_loss": 1.0, "leaf_cap": 512, "distill": 1.0},
    "train": {"epochs": 30, "max_minutes": 10.0, "batch_size": 256, "lr": 0.003,
              "warmup_steps": 100, "eval_every": 5, "patience": 3},
    "eval": {"beam": 20, "item_weight": 1.0},
}

SCORE_NOTE = ("score: the generator's log-probability of the item, plus item_weight times the "
              "item head's logit when the run re-scores; higher is better, comparable within "
              "one list only")


def check_run(run: str | Path) -> Path:
    """The run folder, or one line saying it is not one."""
    run = Path(run)
    if not (run / "index" / "index.json").is_file():
        raise GenrecError(f"no run at {run} (no {run / 'index' / 'index.json'}; make one with "
                          "genrec run)")
    return run


def run_config(run: str | Path) -> RunConfig:
    """The config a run was made with (config.json), errors naming the file."""
    path = check_run(run) / "config.json"
    try:
        return RunConfig.from_dict(read_json(path))
    except (GenrecError, ValueError, TypeError) as err:
        raise GenrecError(f"{path}: {err}") from None


def open_catalog(run: str | Path, **kw: Any) -> Catalog:
    """Catalog(run, ...) with a corrupt run file named instead of a KeyError/ValueError."""
    run = check_run(run)
    index = run / "index" / "index.json"
    try:
        SemanticIndex.load(run / "index")
    except GenrecError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as err:
        raise GenrecError(f"{index}: not a genrec index, or its files do not match it "
                          f"({type(err).__name__}: {_short(err)})") from None
    _check_run_files(run)
    try:
        return Catalog(run, **kw)
    except GenrecError:
        raise
    except RuntimeError as err:  # torch: weights that do not fit the model's config
        raise GenrecError(f"{run / 'model.json'}: does not describe "
                          f"{run / 'model.safetensors'} ({_short(err)})") from None
    except (KeyError, TypeError, ValueError, OSError) as err:
        raise GenrecError(f"{run}: damaged run files ({type(err).__name__}: {_short(err)}); "
                          "a file there is not one genrec wrote") from None


def _check_run_files(run: Path) -> None:
    """The shape of items.json, model.json and config.json, so a damaged one is named."""
    from dataclasses import fields

    from genrec.model import ModelConfig

    items = read_json(run / "items.json")
    if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
        raise GenrecError(f"{run / 'items.json'}: expected a list of {{\"id\", \"title\"}} "
                          "objects")
    if (run / "model.json").exists():
        model = read_json(run / "model.json")
        known = {f.name for f in fields(ModelConfig)}
        if not isinstance(model, dict) or set(model) - known:
            extra = sorted(set(model) - known) if isinstance(model, dict) else model
            raise GenrecError(f"{run / 'model.json'}: not a model config (unknown {extra!r})")
    if (run / "config.json").exists():
        cfg = read_json(run / "config.json")
        if not isinstance(cfg, dict) or not all(isinstance(cfg.get(s, {}), dict)
                                                for s in ("data", "index", "train", "eval")):
            raise GenrecError(f"{run / 'config.json'}: not a run config (a table per section)")


def _short(err: BaseException, most: int = 160) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= most else text[: most - 1] + "…"


class Run:
    """A trained run, ready to answer: recommend, explain, add and remove items.

    persist=False keeps every change in memory and writes nothing into the run folder."""

    def __init__(self, path: str | Path, *, data_dir: str | Path | None = None,
                 beam: int | None = None, persist: bool = True, explain: bool = True,
                 model: bool = True) -> None:
        self.path = check_run(path)
        self.data_dir = data_dir
        self.catalog = open_catalog(self.path, persist=persist, explain=explain, beam=beam,
                                    model=model, data_dir=data_dir)
        self._dataset: Dataset | None = None

    def __repr__(self) -> str:
        snap = self.catalog.snapshot
        return (f"Run({str(self.path)!r}, items={len(snap.item_ids)}, active={snap.n_active}, "
                f"catalog_version={snap.version})")

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.catalog.close()

    # --- answers -----------------------------------------------------------------------------
    def recommend(self, history: Sequence[str], k: int = 10, *,
                  exclude: Sequence[str] | None = None, explain: bool = False,
                  fresh: int = 0) -> list[dict[str, Any]]:
        """Top-k items after `history` (item ids, oldest first) over the live catalogue:
        [{"id", "title", "score"(, "path")}], best first. The history is excluded unless
        `exclude` is given."""
        return self.answer(history, k, exclude=exclude, explain=explain, fresh=fresh)["items"]

    def answer(self, history: Sequence[str], k: int = 10, *,
               exclude: Sequence[str] | None = None, explain: bool = False,
               fresh: int = 0) -> dict[str, Any]:
        """recommend's full answer: items, history_used, truncated, notes, catalog_version."""
        if isinstance(history, str):
            raise TypeError("history must be a list of item ids, not one string")
        if not history:
            raise GenrecError("history: give at least one item id")
        if k < 1:
            raise GenrecError(f"k must be >= 1, got {k}")
        if explain and self.catalog.snapshot.labels is None:
            raise GenrecError("this Run was opened with explain=False")
        query = Query([str(h) for h in history], k,
                      None if exclude is None else [str(e) for e in exclude], explain, fresh)
        result = answer_batch(self.catalog.snapshot, [query])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def explain(self, item_id: str) -> str:
        """The item's readable semantic-ID path, e.g. "Makeup › Nails › OPI polish › #3"."""
        snap = self.catalog.snapshot
        if snap.labels is None:
            raise GenrecError("this Run was opened with explain=False")
        return snap.path(self._row(item_id)) or ""

    def item(self, item_id: str) -> dict[str, Any]:
        """id, title, semantic_id, active, added (and path)."""
        return self.catalog.snapshot.describe(self._row(item_id))

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Active items whose title (or id) contains every word of `query`, any case."""
        words = query.lower().split()
        if not words:
            raise GenrecError("--search: give a word to look for")
        snap = self.catalog.snapshot
        found = []
        for row, item_id in enumerate(snap.item_ids):
            title = str(snap.records[row].get("title") or "")
            text = f"{title} {item_id}".lower()
            if snap.active[row] and all(w in text for w in words):
                found.append({"id": item_id, "title": title or item_id})
                if len(found) >= limit:
                    break
        return found

    def dataset(self) -> Dataset:
        """The run's dataset, loaded from the data spec it saved (once)."""
        if self._dataset is None:
            self._dataset = load_run_dataset(run_config(self.path), self.data_dir)
        return self._dataset

    def user_history(self, user_id: str) -> list[str]:
        """A user of the run's dataset: their whole sequence of item ids, oldest first."""
        ds = self.dataset()
        try:
            u = ds.user_ids.index(str(user_id))
        except ValueError:
            raise GenrecError(f"--user: unknown user id {str(user_id)!r} (not in dataset "
                              f"{ds.name!r})") from None
        return [ds.item_ids[i] for i in ds.sequences[u]]

    # --- changes -----------------------------------------------------------------------------
    def add_items(self, items: Sequence[dict[str, Any]] | str | Path) -> list[dict[str, Any]]:
        """Code new items (a list of {id, title, brand, categories, ...}, or a JSON / JSON lines
        file of them) with the frozen quantizer; recommendable at once. All or nothing."""
        records = read_item_records(items) if isinstance(items, str | Path) else list(items)
        check_new_items(self.catalog, records)  # before the text encoder loads (seconds)
        added = self.catalog.add(records)
        snap = self.catalog.snapshot
        return [{"id": a.id, "semantic_id": a.semantic_id, "restored": a.restored}
                | ({"path": snap.path(a.row)} if snap.labels is not None else {})
                for a in added]

    def remove_items(self, ids: Sequence[str]) -> list[str]:
        """Stop recommending these items (they stay readable in histories)."""
        ids = [str(i) for i in ids]
        if not ids:
            raise GenrecError("--ids: give at least one item id")
        self.catalog.retire(ids)
        return ids

    def _row(self, item_id: str) -> int:
        row = self.catalog.snapshot.row_of.get(str(item_id))
        if row is None:
            raise UnknownItem(f"--item: unknown item id {str(item_id)!r} (not in {self.path})",
                              "item")
        return row


def load(run: str | Path, *, data_dir: str | Path | None = None, beam: int | None = None,
         persist: bool = True) -> Run:
    """A trained run folder as a Run: `genrec.load("runs/beauty").recommend(["1", "2"])`."""
    return Run(run, data_dir=data_dir, beam=beam, persist=persist)


# --- helpers of the CLI ------------------------------------------------------------------------
def read_item_records(path: str | Path) -> list[dict[str, Any]]:
    """New items from a JSON list or JSON lines: {"id", "title", "brand", "categories", ...}."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("--items: file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"--items: cannot read ({err})", path=path) from None
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON ({err.msg})", path=path, line=err.lineno) from None
    if not isinstance(records, list) or not records:
        raise DataError("expected a JSON list of items or JSON lines, one item each", path=path)
    try:
        for i, rec in enumerate(records):
            clean_record(rec, i)
    except GenrecError as err:
        raise DataError(str(err), path=path) from None
    return records


def check_new_items(catalog: Catalog, records: Sequence[dict[str, Any]]) -> None:
    """Every error Catalog.add would raise about the records themselves, before it embeds."""
    seen: dict[str, int] = {}
    snap = catalog.snapshot
    for i, rec in enumerate(records):
        item_id = clean_record(rec, i)["id"]
        if item_id in seen:
            raise ItemConflict(f"items[{i}].id: {item_id!r} appears twice (also items"
                               f"[{seen[item_id]}])", f"items[{i}].id")
        seen[item_id] = i
        row = snap.row_of.get(item_id)
        if row is not None and snap.active[row]:
            raise ItemConflict(f"items[{i}].id: item {item_id!r} is already in the catalogue",
                               f"items[{i}].id")


def index_command(data_dir: str | Path | None, dataset: str | None, cfg: IndexConfig,
                  out: str | Path, vectors_path: str | Path | None = None, k_core: int = 5,
                  data: DataConfig | None = None) -> SemanticIndex:
    """`genrec index`: a benchmark / raw folder (`dataset`) or your own files (`data`)."""
    return make_index(command_dataset(dataset, data, data_dir, k_core), cfg, out, vectors_path)


def command_dataset(dataset: str | None, data: DataConfig | None,
                    data_dir: str | Path | None, k_core: int = 5) -> Dataset:
    """The dataset of a data command: --dataset NAME or --interactions FILE, exactly one."""
    if data is not None and data.given:
        if dataset is not None:
            raise GenrecError("give --dataset or --interactions, not both")
        return data.load()
    if dataset is None:
        raise GenrecError("no data: pass --dataset NAME (a staged benchmark) or "
                          "--interactions FILE [--items FILE]")
    return load_dataset(dataset, data_dir, k_core=k_core)


def sample_recommendations(out: str | Path, data_dir: str | Path | None, users: int = 2,
                           k: int = 5) -> str:
    """A readable look at a few test users: recent history, the true next item, the top-k."""
    with Run(out, data_dir=data_dir, persist=False, explain=False) as run:
        ds = run.dataset()
        split = ds.split()
        lines = []
        for u in range(min(users, ds.n_users)):
            hist = split.test_history[u]
            recs = run.recommend([ds.item_ids[i] for i in hist], k)
            lines.append(f"user {ds.user_ids[u]}: recently " + " | ".join(
                ds.title(i)[:50] for i in hist[-3:]))
            lines.append(f"  actually bought next: {ds.title(split.test_target[u])[:70]}")
            lines += [f"  {r + 1}. {it['title'][:70]}  ({it['score']:.2f})"
                      for r, it in enumerate(recs)]
    return "\n".join(lines)


def embed_command(data_dir: str | Path | None, dataset: str | None, out: str | Path,
                  chunk: int = 8192, k_core: int = 5, data: DataConfig | None = None) -> Path:
    """MiniLM vectors of every item's text streamed to OUT (.npy, resumable), for
    `genrec index --vectors OUT` on catalogues too large to embed in memory."""
    from genrec.embed.stream import embed_texts_to_npy

    ds = command_dataset(dataset, data, data_dir, k_core)
    if not ds.has_text:
        raise GenrecError(f"dataset {ds.name!r} has no item text to embed")
    return embed_texts_to_npy([item_text(r) for r in ds.items], out, chunk=chunk)


def write_per_user(run: str | Path, ds: Dataset, ev: Any, which: str, path: str | Path) -> Path:
    """`genrec evaluate --per-user FILE`: CSV of user, target, rank (1 = top; empty when the
    target is outside the top ev.k), from the run's model on the test (or valid) split."""
    import csv
    import io

    from genrec.evaluate import evaluate
    from genrec.io import write_text
    from genrec.run import load_recommender

    split = ds.split()
    histories = split.test_history if which == "test" else split.valid_history
    targets = split.test_target if which == "test" else split.valid_target
    rec = load_recommender(run, ev.beam, ev.item_weight)
    _, topk = evaluate(rec.recommend_fn(ev.exclude_history), histories, targets, k=ev.k,
                       desc="per-user ranks")
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["user", "target", "rank"])
    for u, (row, target) in enumerate(zip(topk.tolist(), targets.tolist(), strict=True)):
        rank = row.index(target) + 1 if target in row else ""
        out.writerow([ds.user_ids[u], ds.item_ids[target], rank])
    write_text(path, buf.getvalue())
    return Path(path)
