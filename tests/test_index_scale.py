"""Catalogue-size index building: vectors read from disk in chunks, quantizer fit on a sample,
codes streamed; the results equal the in-memory path's."""

from __future__ import annotations

import numpy as np
import pytest

from genrec.chunked import NpyRows, create_npy, iter_chunks, sample_rows, write_rows
from genrec.errors import DataError
from genrec.semantic_ids import IndexConfig, build_index
from genrec.semantic_ids.rkmeans import ResidualKMeans


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    path = tmp_path_factory.mktemp("vec") / "v.npy"
    np.save(path, x)
    return x, path


def test_npy_rows_reads_slices_and_rows(vectors):
    x, path = vectors
    rows = NpyRows(path)
    assert rows.shape == x.shape and len(rows) == len(x)
    assert np.array_equal(rows[100:250], x[100:250])
    assert np.array_equal(rows[2990:5000], x[2990:])
    idx = np.array([5, 0, 2999, 17])
    assert np.array_equal(rows[idx], x[idx])
    assert np.array_equal(np.asarray(rows), x)
    parts = list(iter_chunks(rows, 1000))
    assert [lo for lo, _ in parts] == [0, 1000, 2000]
    assert np.array_equal(np.concatenate([p for _, p in parts]), x)


def test_npy_rows_rejects_bad_files(tmp_path):
    np.save(tmp_path / "one_d.npy", np.zeros(5, dtype=np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((5, 2), dtype=np.int64))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    for name in ("one_d.npy", "ints.npy", "junk.npy", "missing.npy"):
        with pytest.raises(DataError):
            NpyRows(tmp_path / name)
    np.save(tmp_path / "cut.npy", np.zeros((100, 8), dtype=np.float32))
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-40])
    with pytest.raises(DataError, match="truncated"):
        NpyRows(tmp_path / "cut.npy")


def test_writer_round_trips(tmp_path):
    x = np.arange(60, dtype=np.float32).reshape(10, 6)
    offset = create_npy(tmp_path / "w.npy", 10, 6)
    write_rows(tmp_path / "w.npy", offset, 4, x[4:])
    write_rows(tmp_path / "w.npy", offset, 0, x[:4])
    assert np.array_equal(np.load(tmp_path / "w.npy"), x)


def test_chunked_encode_equals_whole(vectors):
    x, path = vectors
    rq = ResidualKMeans.fit(x[:1000], levels=3, codebook_size=16, seed=0)
    whole, cost = rq.encode_with_cost(x)
    assert np.array_equal(rq.encode(NpyRows(path), chunk=700), whole)
    codes, cost2 = rq.encode_with_cost(NpyRows(path), chunk=256)
    assert np.array_equal(codes, whole) and np.allclose(cost, cost2)


def test_sampled_fit_from_disk_equals_in_memory(vectors, tmp_path):
    x, path = vectors
    ids = [str(i) for i in range(len(x))]
    cfg = IndexConfig(method="rkmeans", levels=2, codebook_size=16, fit_sample=500)
    on_disk = build_index(cfg, ids, vectors=NpyRows(path), out=tmp_path)
    in_memory = build_index(cfg, ids, vectors=x)
    assert np.array_equal(on_disk.codes, in_memory.codes)
    assert on_disk.config["fit_sample"] == 500 and "assign_seconds" in on_disk.stats
    sample = sample_rows(x, 500, seed=0)
    assert sample.shape == (500, 24) and np.array_equal(sample_rows(x, 0, seed=0), x)
    with pytest.raises(ValueError, match="fit_sample"):
        IndexConfig(method="rkmeans", codebook_size=16, fit_sample=8)


def test_large_vector_files_stay_on_disk(vectors, monkeypatch, tmp_path):
    import genrec.embed.vectors as ev

    x, path = vectors
    monkeypatch.setattr(ev, "STREAM_BYTES", 0)
    rows = ev.load_item_vectors(path, [str(i) for i in range(len(x))])
    assert isinstance(rows, NpyRows) and np.array_equal(rows[:10], x[:10])
    bad = x.copy()
    bad[1234, 3] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match=":1235"):
        ev.load_item_vectors(tmp_path / "bad.npy", [str(i) for i in range(len(x))])


@pytest.mark.slow
def test_streamed_embedding_resumes_and_matches(tmp_path, monkeypatch):
    import genrec.embed.stream as stream
    from genrec.embed import embed_texts

    texts = [f"item {i}: a {['red', 'blue', 'green'][i % 3]} lipstick, shade {i}"
             for i in range(20)]
    out = tmp_path / "v.npy"
    real_write, calls = stream.write_rows, []

    def dies_after_one(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(args[2])
        real_write(*args)

    monkeypatch.setattr(stream, "write_rows", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        stream.embed_texts_to_npy(texts, out, chunk=8)
    assert not out.exists() and calls == [0]
    resumed: list[int] = []

    def records(*args):
        resumed.append(args[2])
        real_write(*args)

    monkeypatch.setattr(stream, "write_rows", records)
    stream.embed_texts_to_npy(texts, out, chunk=8)
    assert resumed == [8, 16], "the rerun continues after the chunk already written"
    got = np.load(out)
    want = embed_texts(texts, cache_dir=tmp_path / "cache")
    assert got.shape == (20, 384) and np.allclose(got, want, atol=1e-5)
    assert not (tmp_path / "v.npy.progress.json").exists()
