"""Semantic IDs for a dataset's items: text (or given vectors) -> index folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from genrec.chunked import NpyRows
from genrec.coldstart import save_content
from genrec.data import Dataset
from genrec.embed import embed_texts, item_text, load_item_vectors
from genrec.semantic_ids import (
    IndexConfig,
    SemanticIndex,
    build_index,
    fit_to_catalogue,
    plot_index,
)

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
    cfg, note = fit_to_catalogue(cfg, ds.n_items)
    if note:
        log.warning(note)
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
