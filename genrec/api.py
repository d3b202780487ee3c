"""The Python API behind the CLI: each function runs one pipeline stage end to end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from genrec.chunked import NpyRows
from genrec.coldstart import save_content
from genrec.data import Dataset, load_dataset
from genrec.embed import embed_texts, item_text, load_item_vectors
from genrec.semantic_ids import IndexConfig, SemanticIndex, build_index, plot_index

log = logging.getLogger("genrec")


def item_vectors(
    ds: Dataset, vectors_path: str | Path | None = None, cache_dir: Path | None = None
) -> np.ndarray | NpyRows:
    """User-supplied vectors if given (a large .npy stays on disk, read in chunks), else
    cached MiniLM embeddings of the item text."""
    if vectors_path is not None:
        return load_item_vectors(vectors_path, ds.item_ids)
    if not ds.has_text:
        raise ValueError(
            f"dataset {ds.name!r} has no item text: pass item vectors "
            "(--vectors FILE.npy|.parquet), e.g. SASRec item embeddings, or use --method random"
        )
    start = time.perf_counter()
    vecs = embed_texts([item_text(r) for r in ds.items], cache_dir=cache_dir)
    log.info("embedded %d items in %.1f s", len(vecs), time.perf_counter() - start)
    return vecs


def make_index(
    ds: Dataset,
    cfg: IndexConfig,
    out: str | Path,
    vectors_path: str | Path | None = None,
    cache_dir: Path | None = None,
) -> SemanticIndex:
    """Semantic IDs for every item of `ds`, saved to `out` with index.json and index.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vectors = titles = None
    if cfg.method == "title":
        titles = [ds.title(i) for i in range(ds.n_items)]
    elif cfg.method != "random":
        vectors = item_vectors(ds, vectors_path, cache_dir)
    index = build_index(cfg, ds.item_ids, vectors=vectors, titles=titles, out=out)
    if isinstance(vectors, np.ndarray):  # new items' neighbours and content scores need them
        save_content(out, vectors)
    index.config["dataset"] = ds.name
    plot_index(index, out / "index.png")
    index.save(out)
    return index


def index_command(
    data_dir: str | Path | None,
    dataset: str,
    cfg: IndexConfig,
    out: str | Path,
    vectors_path: str | Path | None = None,
    k_core: int = 5,
) -> SemanticIndex:
    return make_index(load_dataset(dataset, data_dir, k_core=k_core), cfg, out, vectors_path)


def read_item_records(path: str | Path) -> list[dict]:
    """New items from a JSON list or JSON lines: {"id", "title", "brand", "categories", ...}."""
    import json

    from genrec.errors import DataError

    text = Path(path).read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON ({err.msg})", path=path, line=err.lineno) from None


def add_items_command(run: str | Path, items_file: str | Path,
                      data_dir: str | Path | None = None) -> list[dict]:
    """Code new items with the run's frozen quantizer and list them (run/catalog.sqlite)."""
    from genrec.catalog import Catalog

    cat = Catalog(run, model=False, explain=True, data_dir=data_dir)
    try:
        added = cat.add(read_item_records(items_file))
        snap = cat.snapshot
        return [{"id": a.id, "semantic_id": a.semantic_id, "restored": a.restored,
                 "path": snap.path(a.row)} for a in added]
    finally:
        cat.close()


def remove_items_command(run: str | Path, ids: list[str]) -> None:
    """Retire items: never recommended again (kept readable in histories)."""
    from genrec.catalog import Catalog

    cat = Catalog(run, model=False)
    try:
        cat.retire(ids)
    finally:
        cat.close()


def explain_command(run: str | Path, item: str | None, plot: str | Path | None = None,
                    data_dir: str | Path | None = None) -> str | None:
    """The item's readable semantic-ID path; `plot` also draws the top of the hierarchy."""
    from genrec.catalog import Catalog
    from genrec.explain import plot_hierarchy

    cat = Catalog(run, model=False, explain=True, data_dir=data_dir)
    snap = cat.snapshot
    cat.close()
    if plot is not None:
        plot_hierarchy(snap.labels, snap.codes, plot)
    if item is None:
        return None
    if item not in snap.row_of:
        raise KeyError(f"--item: unknown item id {item!r} (not in {run})")
    return snap.path(snap.row_of[item])


def recommend_command(run: str | Path, history: list[str], k: int = 10, beam: int = 20,
                      explain: bool = False, data_dir: str | Path | None = None) -> list[dict]:
    """Top-k for one history over the live catalogue (added items in, removed ones out)."""
    from genrec.catalog import Catalog
    from genrec.serve.batcher import Query, answer_batch

    if not history:
        raise ValueError("--history: give at least one item id")
    cat = Catalog(run, explain=explain, beam=max(beam, k), data_dir=data_dir)
    cat.close()
    result = answer_batch(cat.snapshot, [Query(history, k, None, explain)])[0]
    if isinstance(result, Exception):
        raise result
    return result["items"]


def embed_command(data_dir: str | Path | None, dataset: str, out: str | Path,
                  chunk: int = 8192, k_core: int = 5) -> Path:
    """MiniLM vectors of every item's text streamed to OUT (.npy, resumable), for
    `genrec index --vectors OUT` on catalogues too large to embed in memory."""
    from genrec.embed.stream import embed_texts_to_npy

    ds = load_dataset(dataset, data_dir, k_core=k_core)
    if not ds.has_text:
        raise ValueError(f"dataset {ds.name!r} has no item text to embed")
    return embed_texts_to_npy([item_text(r) for r in ds.items], out, chunk=chunk)
