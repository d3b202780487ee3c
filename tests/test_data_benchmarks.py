"""Staged benchmarks: real statistics from the PROVENANCE files, and errors on damaged copies."""

from __future__ import annotations

import csv
import gzip
import json
import os
import time
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from genrec.data import BENCHMARKS, Dataset, data_root, load_benchmark, load_dataset
from genrec.errors import DataError


def _real_root() -> Path | None:
    env = os.environ.get("GENREC_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if (root / "amazon2014-beauty").is_dir() else None


REAL = _real_root()
needs_real = pytest.mark.skipif(
    REAL is None, reason="real data not found (set GENREC_DATA or put shared/data beside the repo)"
)


@cache
def real(name: str) -> Dataset:
    return load_benchmark(name, REAL)


# --- real data -------------------------------------------------------------------------------

STATS = {  # users, items, interactions, min/max sequence length (PROVENANCE.md)
    "amazon2014-beauty": (22_363, 12_101, 198_502, 5, 204),
    "amazon2014-toys": (19_412, 11_924, 167_597, 5, 550),
    "amazon2014-sports": (35_598, 18_357, 296_337, 5, 296),
    "movielens-1m": (6_040, 3_706, 1_000_209, 20, 2_314),
    "movielens-100k": (943, 1_682, 100_000, 20, None),
}


@needs_real
@pytest.mark.parametrize("name", BENCHMARKS)
def test_real_statistics_and_split(name: str) -> None:
    users, items, inter, lo, hi = STATS[name]
    ds = real(name)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (users, items, inter)
    lengths = [len(s) for s in ds.sequences]
    assert min(lengths) == lo and (hi is None or max(lengths) == hi)
    assert all(s.dtype == np.int64 for s in ds.sequences)
    flat = np.concatenate(ds.sequences)
    assert flat.min() == 0 and flat.max() == items - 1 and len(np.unique(flat)) == items
    split = ds.split()
    assert sum(len(t) for t in split.train) == inter - 2 * users
    u = 7
    assert split.test_target[u] == ds.sequences[u][-1]
    assert split.valid_target[u] == ds.sequences[u][-2]
    assert np.array_equal(split.test_history[u], ds.sequences[u][:-1])


@needs_real
def test_beauty_items_and_speed() -> None:
    start = time.perf_counter()
    ds = load_benchmark("amazon2014-beauty", REAL)
    assert time.perf_counter() - start < 3.0
    assert ds.has_text and ds.item_ids[:3] == ["1", "2", "3"] and ds.user_ids[0] == "1"
    assert ds.title(0) == "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce"
    assert ds.items[0] == {
        "title": "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce", "brand": "OPI",
        "categories": [["Beauty", "Makeup", "Nails", "Nail Polish"]], "asin": "B004756YJA",
    }
    assert ds.title(3).startswith("WAWO 15 Color Professionl Makeup Eyeshadow")
    assert sum(r["brand"] is not None for r in ds.items) == 12_035
    assert ds.items[ds.index_of("495")]["title"] == "title_495"  # placeholder kept verbatim
    # first line of sequences.txt: "1 1 2 3 4 5" (file ids are index + 1)
    assert ds.sequences[0].tolist() == [0, 1, 2, 3, 4]
    assert ds.sequences[1].tolist() == [5, 6, 7, 8, 9, 3, 10]


@needs_real
def test_toys_and_sports_text() -> None:
    toys = real("amazon2014-toys")
    assert toys.items[toys.index_of("3")]["asin"] == "B004S8F7QM"
    assert toys.title(toys.index_of("3")) == "Cards Against Humanity"
    assert toys.title(toys.index_of("4")) == "Carcassonne Basic Game"
    assert all(r["brand"] is None for r in toys.items)
    sports = real("amazon2014-sports")
    assert not sports.has_text and sports.items == []
    assert sports.title(0) == "1"  # falls back to the external id


@needs_real
def test_movielens_1m_order_and_text() -> None:
    ds = real("movielens-1m")
    assert ds.user_ids[:2] == ["1", "2"]
    assert [len(ds.sequences[0]), len(ds.sequences[1])] == [53, 129]
    # items are numbered by first appearance: user 1's first movie is 3186
    assert ds.item_ids[0] == "3186" and ds.sequences[0][0] == 0
    flat = np.concatenate(ds.sequences)
    first = np.unique(flat, return_index=True)[1]
    assert np.all(np.diff(first) > 0)  # index k first appears before index k+1
    # GroupLens timestamps put these movies at positions 6, 10, 13, 25, 29, 30 of user 1
    # (PROVENANCE counts from 0: 3408 is the 7th movie on the line)
    user1 = [ds.item_ids[i] for i in ds.sequences[0]]
    assert [user1.index(m) for m in ("3408", "1193", "608", "914", "1246", "661")] == [
        6, 10, 13, 25, 29, 30]
    rec = ds.items[ds.index_of("73")]
    assert rec["title"] == "Misérables, Les (1995)" and rec["year"] == 1995
    assert rec["genres"] == ["Drama", "Musical"] and rec["categories"] == [["Drama", "Musical"]]


@needs_real
def test_movielens_100k_matches_independent_sort() -> None:
    ds = real("movielens-100k")
    with gzip.open(REAL / "movielens-100k" / "ml-100k.inter.gz", "rt", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    by_user: dict[int, list[tuple[float, str]]] = {}
    for user, item, _rating, ts in rows:
        by_user.setdefault(int(user), []).append((float(ts), item))
    expected = [[i for _, i in sorted(v, key=lambda x: x[0])] for _, v in sorted(by_user.items())]
    got = [[ds.item_ids[i] for i in s] for s in ds.sequences]
    assert ds.user_ids == [str(u) for u in sorted(by_user)]
    assert got == expected  # Python's sort is stable: same-second ratings keep file order
    assert ds.title(ds.index_of("1")) == "Toy Story (1995)"
    assert ds.items[ds.index_of("267")]["title"] == "unkonwn"
    assert ds.items[ds.index_of("1")]["genres"] == ["Animation", "Children's", "Comedy"]


@needs_real
def test_data_root_and_load_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENREC_DATA", str(REAL))
    assert data_root(None) == REAL
    assert load_dataset("movielens-100k").n_users == 943


def test_data_root_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GENREC_DATA", raising=False)
    with pytest.raises(DataError, match="--data-dir.*GENREC_DATA"):
        data_root(None)
    assert data_root(tmp_path) == tmp_path
    with pytest.raises(DataError, match="does not exist"):
        data_root(tmp_path / "nope")


def test_unknown_benchmark_lists_names(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_benchmark("amazon2018-beauty", tmp_path)
    assert all(n in str(e.value) for n in BENCHMARKS)
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("no-such-set", tmp_path)


# --- damaged copies --------------------------------------------------------------------------

def _gz(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return path


def _items_jsonl(n: int) -> str:
    return "".join(json.dumps({"item_id": k, "asin": f"A{k}", "title": f"t{k}", "brand": None,
                               "categories": [["C"]]}) + "\n" for k in range(1, n + 1))


def _beauty(root: Path, seqs: str, items: str | bytes | None = None) -> Path:
    folder = root / "amazon2014-beauty"
    _gz(folder / "sequences.txt.gz", seqs)
    _gz(folder / "items.jsonl.gz", _items_jsonl(4) if items is None else items)
    return folder


def _err(root: Path, name: str = "amazon2014-beauty") -> str:
    with pytest.raises(DataError) as e:
        load_benchmark(name, root)
    return str(e.value)


def test_small_valid_copy(tmp_path: Path) -> None:
    _beauty(tmp_path, "1 1 2 3\n2 4 3 2 1\n\n")
    ds = load_benchmark("amazon2014-beauty", tmp_path)
    assert ds.sequences[1].tolist() == [3, 2, 1, 0] and ds.items[3]["asin"] == "A4"


@pytest.mark.parametrize(
    ("seqs", "line", "needle"),
    [
        ("1 1 2 3\n2 1 x 3\n", 2, "'x'"),
        ("1 1 2 3\n2 1 2\n", 2, "needs at least 3"),
        ("1 1 2 3\n1 2 3 4\n", 2, "duplicate user id"),
        ("1 1 2 3\n2 1 99 3\n", 2, "'99'"),
        ("1 1 2 3\n2 1 -2 3\n", 2, "'-2'"),
    ],
)
def test_bad_sequences(tmp_path: Path, seqs: str, line: int, needle: str) -> None:
    folder = _beauty(tmp_path, seqs)
    msg = _err(tmp_path)
    assert f"{folder / 'sequences.txt.gz'}:{line}" in msg and needle in msg


@pytest.mark.parametrize(
    ("items", "line", "needle"),
    [
        (_items_jsonl(2) + '{"item_id": 3, "asin": \n', 3, "not valid JSON"),
        (_items_jsonl(2) + '{"item_id": 2, "asin": "B"}\n', 3, "duplicate item id"),
        (_items_jsonl(1) + '{"item_id": "two"}\n', 2, "'two'"),
        (_items_jsonl(1).encode() + b'{"item_id": 2, "title": "caf\xe9"}\n', 2, "UTF-8"),
    ],
)
def test_bad_items_jsonl(tmp_path: Path, items: str | bytes, line: int, needle: str) -> None:
    folder = _beauty(tmp_path, "1 1 1 1\n", items)
    msg = _err(tmp_path)
    assert f"{folder / 'items.jsonl.gz'}:{line}" in msg and needle in msg


def test_item_id_gap_and_empty_file(tmp_path: Path) -> None:
    _beauty(tmp_path, "1 1 1 1\n", _items_jsonl(1) + '{"item_id": 3, "asin": "C"}\n')
    assert "2 is missing" in _err(tmp_path)
    _beauty(tmp_path, "", None)
    assert "sequences.txt.gz: file is empty" in _err(tmp_path)


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = _beauty(tmp_path, "1 1 2 3\n" * 5000)
    data = (folder / "sequences.txt.gz").read_bytes()
    (folder / "sequences.txt.gz").write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated" in _err(tmp_path)


def test_sports_tsv_header(tmp_path: Path) -> None:
    folder = tmp_path / "amazon2014-sports"
    _gz(folder / "sequences.txt.gz", "1 1 2 1\n")
    _gz(folder / "items.tsv.gz", "item_id\tasin\n1\tA\nitem_id\tasin\n2\tB\n")
    msg = _err(tmp_path, "amazon2014-sports")
    assert f"{folder / 'items.tsv.gz'}:3" in msg and "'item_id'" in msg
    _gz(folder / "items.tsv.gz", "1\tA\n")
    assert "expected the header" in _err(tmp_path, "amazon2014-sports")
    _gz(folder / "items.tsv.gz", "item_id\tasin\n1\tA\textra\n2\tB\n")
    assert "items.tsv.gz:2" in _err(tmp_path, "amazon2014-sports")
    _gz(folder / "items.tsv.gz", "item_id\tasin\n1\tA\n2\tB\n")
    ds = load_benchmark("amazon2014-sports", tmp_path)
    assert not ds.has_text and ds.item_ids == ["1", "2"]


def test_movielens_1m_errors(tmp_path: Path) -> None:
    folder = tmp_path / "movielens-1m"
    _gz(folder / "sequences.txt.gz", "1 10 20 10\n2 20 30 10\n")
    (folder / "movies.dat").write_text("10::A (1990)::Drama\n20::B::Comedy|War\n", "utf-8")
    msg = _err(tmp_path, "movielens-1m")
    assert "sequences.txt.gz:2" in msg and "'30'" in msg
    (folder / "movies.dat").write_text("10::A (1990)::Drama\n20::B\n30::C::War\n", "utf-8")
    msg = _err(tmp_path, "movielens-1m")
    assert "movies.dat:2" in msg and "expected 3" in msg
    (folder / "movies.dat").write_bytes("10::Mis\xe9rables::Drama\n".encode("latin-1"))
    assert "movies.dat:1" in _err(tmp_path, "movielens-1m")
    (folder / "movies.dat").write_text("10::A (1990)::Drama\n20::B::X\n30::C::War\n", "utf-8")
    ds = load_benchmark("movielens-1m", tmp_path)
    assert ds.item_ids == ["10", "20", "30"] and ds.sequences[1].tolist() == [1, 2, 0]
    assert ds.items[0]["year"] == 1990 and ds.items[1]["year"] is None


def test_movielens_100k_errors(tmp_path: Path) -> None:
    folder = tmp_path / "movielens-100k"
    (folder).mkdir()
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tA\t1995\tDrama\n2\tB\t1996\tWar Drama\n3\tC\tunkonwn\tunknown\n", "utf-8")
    head = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    rows = "7\t1\t3\t20\n7\t2\t3\t10\n7\t3\t3\t10\n5\t1\t1\t1\n5\t2\t1\t1\n5\t3\t1\t0\n"
    _gz(folder / "ml-100k.inter.gz", head + rows)
    ds = load_benchmark("movielens-100k", tmp_path)
    assert ds.user_ids == ["5", "7"]
    assert [[ds.item_ids[i] for i in s] for s in ds.sequences] == [["3", "1", "2"], ["2", "3", "1"]]
    assert ds.items[ds.index_of("2")]["title"] == "B (1996)"
    _gz(folder / "ml-100k.inter.gz", head.replace("timestamp", "time") + rows)
    msg = _err(tmp_path, "movielens-100k")
    assert "ml-100k.inter.gz:1" in msg and "'timestamp'" in msg and "'time'" in msg
    _gz(folder / "ml-100k.inter.gz", head + rows + "5\t9\t1\t2\n")
    assert "ml-100k.inter.gz:8" in (m := _err(tmp_path, "movielens-100k")) and "'9'" in m
    _gz(folder / "ml-100k.inter.gz", head + rows + "5\t1\t1\n")
    assert "ml-100k.inter.gz:8" in (m := _err(tmp_path, "movielens-100k")) and "found 3" in m
    _gz(folder / "ml-100k.inter.gz", head + rows + head)
    assert "ml-100k.inter.gz:8" in (m := _err(tmp_path, "movielens-100k")) and "'user_id" in m
    _gz(folder / "ml-100k.inter.gz", head + rows + "9\t1\t1\t5\n")
    assert "needs at least 3" in (m := _err(tmp_path, "movielens-100k")) and "'9'" in m


def test_error_object_fields(tmp_path: Path) -> None:
    _beauty(tmp_path, "1 1 2 3\n2 1 x 3\n")
    with pytest.raises(DataError) as e:
        load_benchmark("amazon2014-beauty", tmp_path)
    assert e.value.line == 2 and e.value.value == "x" and Path(e.value.path).name.startswith("seq")
