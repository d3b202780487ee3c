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
