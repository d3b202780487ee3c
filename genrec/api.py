"""The Python API behind the CLI: each function runs one pipeline stage end to end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from genrec.data import Dataset, load_dataset
from genrec.embed import embed_texts, item_text, load_item_vectors
from genrec.semantic_ids import IndexConfig, SemanticIndex, build_index, plot_index

log = logging.getLogger("genrec")


def item_vectors(
    ds: Dataset, vectors_path: str | Path | None = None, cache_dir: Path | None = None
) -> np.ndarray:
    """User-supplied vectors if given, else cached MiniLM embeddings of the item text."""
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
