"""Item text, the offline MiniLM model, the embedding cache, and user-supplied vectors."""

from __future__ import annotations

import numpy as np
import pytest

from genrec.embed import embed_texts, item_text, load_item_vectors
from genrec.embed.text import EmbeddingCache
from genrec.errors import DataError


def test_item_text_unescapes_and_drops_placeholders(beauty):
    assert item_text(beauty.items[0]) == (
        "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce. "
        "Brand: OPI. Category: Beauty > Makeup > Nails > Nail Polish"
    )
    text = item_text({"title": "title_495", "brand": "Unknown",
                      "categories": [["Beauty", "Skin &amp; Care"]]})
    assert text == "Category: Beauty > Skin & Care"


def test_minilm_offline_meaningful_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["red nail polish", "crimson nail lacquer", "stainless steel garden hose"]
    vecs = embed_texts(texts, cache_dir=tmp_path)
    assert vecs.shape == (3, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2  # similar products are closer
    assert len(EmbeddingCache(tmp_path, "all-MiniLM-L6-v2").load()) == 3
    # second call: served from the cache, the model is never loaded
    monkeypatch.setattr("genrec.embed.text.load_encoder", lambda: pytest.fail("not cached"))
    again = embed_texts(texts[::-1], cache_dir=tmp_path)
    assert np.array_equal(again, vecs[::-1])


def test_user_vectors_npy_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = ["a", "b", "c"]
    mat = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "v.npy", mat)
    assert np.array_equal(load_item_vectors(tmp_path / "v.npy", ids), mat)
    table = pa.table({"id": ["c", "a", "b"], "vector": [mat[2].tolist(), mat[0].tolist(),
                                                         mat[1].tolist()]})
    pq.write_table(table, tmp_path / "v.parquet")
    assert np.array_equal(load_item_vectors(tmp_path / "v.parquet", ids), mat)
    with pytest.raises(DataError, match="expected 4 rows"):
        load_item_vectors(tmp_path / "v.npy", ids + ["d"])
    with pytest.raises(DataError, match="'d'"):
        load_item_vectors(tmp_path / "v.parquet", ids + ["d"])
    bad = mat.copy()
    bad[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=":2"):
        load_item_vectors(tmp_path / "nan.npy", ids)
