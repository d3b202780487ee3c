"""Shared fixtures: the real benchmark data (../shared/data beside the repo, or GENREC_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GENREC_QUIET", "1")


def _data_root() -> Path | None:
    env = os.environ.get("GENREC_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if (root / "amazon2014-beauty").exists() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("benchmark data not found: set GENREC_DATA or place shared/data beside repo")
    return root


@pytest.fixture(scope="session")
def beauty(data_root: Path):
    from genrec.data import load_dataset

    return load_dataset("amazon2014-beauty", data_root)


@pytest.fixture(scope="session")
def beauty_vectors(beauty, tmp_path_factory):
    """MiniLM vectors of the first 1,500 Beauty items (real text, real model, ~15 s cold)."""
    from genrec.embed import embed_texts, item_text

    cache = Path(os.environ.get("GENREC_CACHE", tmp_path_factory.mktemp("cache")))
    return embed_texts([item_text(r) for r in beauty.items[:1500]], cache_dir=cache / "emb")


def make_serving_run(out: Path, ds, vectors, n_items: int = 1500, item_loss: float = 0.0) -> Path:
    """A small run folder that serves: the first `n_items` Beauty items, an rkmeans index
    (3 x 8 codes, so codes collide) with its quantizer and content vectors, and an untrained
    tiny model (with an item head when item_loss > 0)."""
    from dataclasses import asdict

    import torch

    from genrec.coldstart import save_content
    from genrec.io import write_json
    from genrec.model import GenerativeRecommender, ModelConfig
    from genrec.model.checkpoint import save_model
    from genrec.run import RunConfig
    from genrec.semantic_ids import IndexConfig, build_index

    cfg = IndexConfig(method="rkmeans", levels=3, codebook_size=8)
    index = build_index(cfg, ds.item_ids[:n_items], vectors=vectors[:n_items], out=out / "index")
    index.save(out / "index")
    save_content(out / "index", vectors[:n_items])
    items = [{"id": ds.item_ids[i], "title": ds.title(i)}
             | {f: ds.items[i][f] for f in ("brand", "categories") if ds.items[i].get(f)}
             for i in range(n_items)]
    write_json(out / "items.json", items)
    model = {"d_model": 32, "n_heads": 2, "d_ff": 64, "encoder_layers": 1, "decoder_layers": 1,
             "max_items": 5, "item_embeddings": True, "item_loss": item_loss}
    write_json(out / "config.json", RunConfig(index=cfg, model=model).to_dict())
    mcfg = ModelConfig(level_sizes=index.level_sizes, n_items=n_items, **model)
    torch.manual_seed(0)
    save_model(out, GenerativeRecommender(mcfg).eval(), asdict(mcfg))
    return out


@pytest.fixture(scope="session")
def head_run(beauty, beauty_vectors, tmp_path_factory) -> Path:
    """Read-only: serving_run with an item head (item_loss), for re-ranking and fresh slots."""
    return make_serving_run(tmp_path_factory.mktemp("head") / "run", beauty, beauty_vectors,
                            item_loss=1.0)


@pytest.fixture(scope="session")
def serving_run(beauty, beauty_vectors, tmp_path_factory) -> Path:
    """Read-only: copy it (shutil.copytree) before changing its catalogue."""
    return make_serving_run(tmp_path_factory.mktemp("serving") / "run", beauty, beauty_vectors)
