"""A user's own CSV / Parquet / JSONL files -> Dataset: ordering, k-core, counted skips, errors."""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.data import leave_one_out, load_custom, load_interactions, load_items
from genrec.data.custom import Interactions, build_dataset, build_dataset_with_report
from genrec.errors import DataError


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _seqs(ds) -> list[list[str]]:
    return [[ds.item_ids[i] for i in s] for s in ds.sequences]


def test_time_sort_ties_keep_file_order_and_first_appearance_ids(tmp_path: Path) -> None:
    p = _csv(tmp_path / "inter.csv", "user,item,ts\n"
             "u2,b,5\nu1,a,3\nu1,c,1\nu2,a,5\nu1,b,3\nu2,c,1\nu1,a,9\n")
    ds = build_dataset("t", load_interactions(p, time_col="ts"), k_core=0)
    assert ds.user_ids == ["u2", "u1"]  # first appearance in the file
    assert _seqs(ds) == [["c", "b", "a"], ["c", "a", "b", "a"]]  # ties (b,a @5) keep file order
    assert ds.item_ids == ["c", "b", "a"]  # first appearance in the sorted, grouped stream
    assert ds.sequences[0].tolist() == [0, 1, 2] and not ds.has_text


def test_no_time_column_keeps_file_order_and_repeats(tmp_path: Path) -> None:
    p = _csv(tmp_path / "inter.csv", "item,user\nx,1\ny,2\nx,1\nz,1\n")
    ds = build_dataset("t", load_interactions(p), k_core=0)
    assert _seqs(ds) == [["x", "x", "z"], ["y"]]  # repeated (user, item) rows are kept


def test_iterative_kcore_is_counted_and_logged(tmp_path: Path, caplog) -> None:
    # k=2: item "rare" has 1 row -> u3 falls to 1 row -> u3 removed -> item "d" falls to 1 row...
    rows = ["u1,a", "u1,b", "u2,a", "u2,b", "u3,rare", "u3,d", "u4,d", "u4,a"]
    p = _csv(tmp_path / "inter.csv", "user,item\n" + "\n".join(rows) + "\n")
    ds, report = build_dataset_with_report("t", load_interactions(p), k_core=2)
    assert ds.user_ids == ["u1", "u2"] and ds.item_ids == ["a", "b"]
    assert (report.kcore_users_removed, report.kcore_items_removed) == (2, 2)
    assert report.kcore_interactions_removed == 4 and report.kcore_rounds >= 3
    assert (report.users, report.items, report.interactions, report.rows) == (2, 2, 4, 8)
    with caplog.at_level(logging.INFO, logger="genrec.data"):
        build_dataset("t", load_interactions(p), k_core=2)
    assert "kcore_users_removed': 2" in caplog.text
    with pytest.raises(DataError, match="no interactions left"):
        build_dataset("t", load_interactions(p), k_core=3)


def _reference_kcore(rows: list[tuple[str, str, int]], k: int) -> dict[str, list[str]]:
    """Plain-Python S3-Rec recipe, written independently of genrec."""
    seqs: dict[str, list[tuple[int, str]]] = {}
    for u, i, t in rows:
        seqs.setdefault(u, []).append((t, i))
    out = {u: [i for _, i in sorted(v, key=lambda x: x[0])] for u, v in seqs.items()}
    while True:
        counts = Counter(i for s in out.values() for i in s)
        new = {u: [i for i in s if counts[i] >= k] for u, s in out.items() if len(s) >= k}
        if new == out:
            return out
        out = new


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from("ABCDEFG"), st.sampled_from("pqrstu"),
                            st.integers(0, 4)), min_size=1, max_size=60),
    k=st.integers(0, 4),
)
def test_matches_reference_recipe(rows: list[tuple[str, str, int]], k: int) -> None:
    times = np.array([r[2] for r in rows], dtype=np.float64)
    inter = Interactions(Path("mem.csv"), [r[0] for r in rows], [r[1] for r in rows],
                         times, list(range(2, len(rows) + 2)))
    expected = {u: s for u, s in _reference_kcore(rows, max(k, 1)).items() if s}
    if not expected:
        with pytest.raises(DataError):
            build_dataset_with_report("h", inter, k_core=k)
        return
    ds, report = build_dataset_with_report("h", inter, k_core=k)
    assert dict(zip(ds.user_ids, _seqs(ds), strict=True)) == expected
    assert ds.user_ids == [u for u in dict.fromkeys(r[0] for r in rows) if u in expected]
    assert report.interactions + report.kcore_interactions_removed == len(rows)


def test_items_text_parquet_and_jsonl(tmp_path: Path) -> None:
    when = [datetime(2020, 1, d) for d in (3, 1, 2, 1, 1, 2)]
    pq.write_table(pa.table({"uid": [1, 1, 1, 2, 2, 2], "iid": [10, 11, 12, 10, 11, 12],
                             "when": when}), tmp_path / "inter.parquet")
    with gzip.open(tmp_path / "items.jsonl.gz", "wt", encoding="utf-8") as f:
        for iid, title in ((12, "Twelve"), (10, "Ten"), (11, "Eleven"), (99, "unused")):
            f.write(f'{{"iid": {iid}, "title": "{title}", "price": 1}}\n')
    ds = load_custom(tmp_path / "inter.parquet", tmp_path / "items.jsonl.gz", user_col="uid",
                     item_col="iid", time_col="when", id_col="iid", text_cols=["title"], k_core=2)
    assert ds.name == "inter" and ds.user_ids == ["1", "2"]
    assert _seqs(ds) == [["11", "12", "10"], ["10", "11", "12"]]
    assert ds.items == [{"title": "Eleven"}, {"title": "Twelve"}, {"title": "Ten"}]
    assert leave_one_out(ds).test_target.tolist() == [2, 1]


def test_items_csv_all_columns_and_iso_dates(tmp_path: Path) -> None:
    p = _csv(tmp_path / "inter.csv", "user,item,day\na,1,2024-03-02\na,2,2024-03-01T10:00\n")
    items = load_items(_csv(tmp_path / "items.csv", 'id,title,brand\n1,"One, the",X\n2,Two,\n'))
    ds = build_dataset("t", load_interactions(p, time_col="day"), items, k_core=0)
    assert _seqs(ds) == [["2", "1"]]
    assert ds.items == [{"title": "Two", "brand": ""}, {"title": "One, the", "brand": "X"}]


def test_unknown_items_error_or_drop(tmp_path: Path, caplog) -> None:
    p = _csv(tmp_path / "inter.csv", "user,item\na,1\na,2\na,7\na,1\n")
    items = load_items(_csv(tmp_path / "items.csv", "id,title\n1,One\n2,Two\n"))
    with pytest.raises(DataError) as e:
        build_dataset("t", load_interactions(p), items, k_core=0)
    assert f"{p}:4" in str(e.value) and "'7'" in str(e.value) and "'item'" in str(e.value)
    ds, report = build_dataset_with_report("t", load_interactions(p), items, k_core=0,
                                           unknown_items="drop")
    assert _seqs(ds) == [["1", "2", "1"]] and report.unknown_items_dropped == 1


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("user,item\na,1\nb\n", 3, "expected 2 fields, found 1"),
        ("user,item\na,1\nuser,item\n", 3, "header is repeated"),
        ("user,item\na,1\n,2\n", 3, "empty id"),
        ("user,item,ts\na,1,5\na,2,soon\n", 3, "'soon'"),
        ("user,item,ts\na,1,2024-01-01\na,2,17\n", 3, "'17'"),
        ('user,item\na,"1\n', 2, "malformed CSV"),
    ],
)
def test_bad_interaction_rows(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = _csv(tmp_path / "inter.csv", text)
    with pytest.raises(DataError) as e:
        load_interactions(p, time_col="ts" if "ts" in text else None)
    assert f"{p}:{line}" in str(e.value) and needle in str(e.value)


def test_missing_column_lists_available(tmp_path: Path) -> None:
    p = _csv(tmp_path / "inter.csv", "customer,product\na,1\n")
    with pytest.raises(DataError, match="missing column 'user'; available: 'customer', 'product'"):
        load_interactions(p)
    pq.write_table(pa.table({"u": ["a"], "i": ["b"]}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match="missing column 'ts'; available: 'u', 'i'"):
        load_interactions(tmp_path / "x.parquet", "u", "i", "ts")
    j = tmp_path / "items.jsonl"
    j.write_text('{"id": 1, "title": "a"}\n{"title": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"items.jsonl:2.*missing column 'id'"):
        load_items(j)
    with pytest.raises(DataError, match="missing column 'brand'"):
        load_items(_csv(tmp_path / "ok.jsonl", '{"id": 1, "title": "a"}\n'), "id", ["brand"])


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file is empty"):
        load_interactions(_csv(tmp_path / "e.csv", ""))
    with pytest.raises(DataError, match="no data rows"):
        load_interactions(_csv(tmp_path / "h.csv", "user,item\n"))
    with pytest.raises(DataError, match="unsupported file type"):
        load_interactions(_csv(tmp_path / "x.xlsx", "user,item\n"))
    with pytest.raises(DataError, match="file not found"):
        load_interactions(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet"):
        load_interactions(tmp_path / "bad.parquet")
    (tmp_path / "enc.csv").write_bytes("user,item\na,1\nb,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"enc.csv:3: not valid UTF-8"):
        load_interactions(tmp_path / "enc.csv")


def test_items_file_errors(tmp_path: Path) -> None:
    dup = _csv(tmp_path / "items.csv", "id,title\n1,a\n2,b\n1,c\n")
    with pytest.raises(DataError, match=r"items.csv:4: duplicate item id \(first on line 2\)"):
        load_items(dup)
    j = tmp_path / "items.jsonl"
    j.write_text('{"id": 1}\n{"id": 2,}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"items.jsonl:2: not valid JSON"):
        load_items(j)
    p = _csv(tmp_path / "inter.csv", "user,item\na,1\n")
    with pytest.raises(DataError, match="unknown_items"):
        build_dataset("t", load_interactions(p), unknown_items="skip")  # type: ignore[arg-type]
