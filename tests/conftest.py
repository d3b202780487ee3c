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


def make_serving_run(out: Path, ds, vectors, n_items: int = 1500, item_loss: float = 0.0,
                     generated_levels: int = 0) -> Path:
    """A small run folder that serves: the first `n_items` Beauty items, an rkmeans index
    (3 x 8 codes, so codes collide) with its quantizer and content vectors, and an untrained
    tiny model (with an item head when item_loss > 0; generating that many levels and
    scoring the items below with the head when generated_levels > 0)."""
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
    if generated_levels:
        model["generated_levels"] = generated_levels
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
def leaf_run(beauty, beauty_vectors, tmp_path_factory) -> Path:
    """Read-only: head_run whose decoder generates the first level and whose head scores the
    items below it (item-aware leaves, as the release configs)."""
    return make_serving_run(tmp_path_factory.mktemp("leaf") / "run", beauty, beauty_vectors,
                            item_loss=1.0, generated_levels=1)


@pytest.fixture(scope="session")
def serving_run(beauty, beauty_vectors, tmp_path_factory) -> Path:
    """Read-only: copy it (shutil.copytree) before changing its catalogue."""
    return make_serving_run(tmp_path_factory.mktemp("serving") / "run", beauty, beauty_vectors)


OWN_TINY = """
# a tiny model: the CLI path end to end on MovieLens-100k in well under 3 minutes on 2 cores
threads = 1
[index]
method = "rkmeans"
codebook_size = 32
[model]
d_model = 32
n_heads = 2
d_ff = 64
encoder_layers = 1
decoder_layers = 1
item_embeddings = true
item_loss = 1.0
[train]
epochs = 2
batch_size = 64
warmup_steps = 10
eval_every = 10
checkpoint_minutes = 0.0
[eval]
beam = 10
"""


def genrec_cli(*args: str, check: bool = False, timeout: float = 600,
               env: dict[str, str] | None = None):
    """`python -m genrec.cli ARGS` as a user runs it (quiet progress), captured."""
    import subprocess
    import sys

    full = {**os.environ, "GENREC_QUIET": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "genrec.cli", *args], env=full, text=True,
                          capture_output=True, check=check, timeout=timeout)


@pytest.fixture(scope="session")
def ml100k_files(data_root, tmp_path_factory) -> dict[str, Path]:
    """MovieLens-100k's raw files rewritten as a user's own: interactions CSV and Parquet
    (user_id, item_id, rating, timestamp), items CSV and Parquet (item_id, title, year,
    genres as "Comedy|Drama")."""
    import csv
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("ml100k-own")
    src = data_root / "movielens-100k"
    with gzip.open(src / "ml-100k.inter.gz", "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    inter = {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
             "rating": [float(r[2]) for r in rows], "timestamp": [int(r[3]) for r in rows]}
    with open(src / "ml-100k.item", encoding="utf-8") as f:
        movies = [line.rstrip("\n").split("\t") for line in f][1:]
    items = {"item_id": [m[0] for m in movies], "title": [m[1] for m in movies],
             "year": [m[2] for m in movies], "genres": ["|".join(m[3].split()) for m in movies]}
    out = {}
    for name, table in (("interactions", inter), ("items", items)):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(list(table))
            w.writerows(zip(*table.values(), strict=True))
        pq.write_table(pa.table(table), folder / f"{name}.parquet")
        out[name] = folder / f"{name}.csv"
        out[f"{name}_parquet"] = folder / f"{name}.parquet"
    (folder / "tiny.toml").write_text(OWN_TINY)
    out["config"] = folder / "tiny.toml"
    return out


@pytest.fixture(scope="session")
def own_run(ml100k_files, tmp_path_factory) -> tuple[Path, float]:
    """Read-only: one `genrec run --interactions CSV --items CSV` made through the CLI, and
    the seconds it took (copy the folder before changing its catalogue)."""
    import time

    out = tmp_path_factory.mktemp("own") / "run"
    start = time.perf_counter()
    done = genrec_cli("run", "--config", str(ml100k_files["config"]),
                      "--interactions", str(ml100k_files["interactions"]),
                      "--items", str(ml100k_files["items"]), "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, time.perf_counter() - start
