"""Raw Amazon 2014 review/meta files -> Dataset, following S3-Rec's preprocessing."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
from pathlib import Path

import pytest

from genrec.data import load_amazon_raw, load_benchmark, load_dataset
from genrec.data.amazon_raw import load_amazon_raw_with_report
from genrec.errors import DataError


def _gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def _review(user: str, asin: str, t: int) -> str:
    return json.dumps({"reviewerID": user, "asin": asin, "overall": 5.0, "unixReviewTime": t,
                       "reviewText": "ok"})


# U5 (first in the file) has one review: any k >= 2 drops it. With k = 3, U3 (two reviews) goes
# too, which leaves item D with two reviews, so D goes in a second round.
REVIEWS = [
    _review("U5", "A", 5),
    _review("U2", "B", 200), _review("U1", "C", 300), _review("U1", "A", 100),
    _review("U3", "D", 50), _review("U2", "A", 200), _review("U1", "B", 100),
    _review("U2", "C", 100), _review("U3", "A", 60), _review("U2", "D", 300),
    _review("U4", "A", 1), _review("U4", "B", 1), _review("U4", "C", 2), _review("U4", "D", 0),
]
META = [
    "{'asin': 'Z', 'title': 'never parsed: not in the data'",  # broken, but skipped by asin
    "{'asin': 'A', 'title': 'Apple', 'brand': 'Acme', 'categories': [['Food', 'Fruit']]}",
    '{"asin": "B", "title": "Banana", "categories": [["Food"]], "price": null}',  # JSON fallback
    "{'asin': 'C', 'categories': [['Food']], 'related': {'also_bought': ['A']}}",
]


def test_order_ids_and_text(tmp_path: Path, caplog) -> None:
    reviews = _gz(tmp_path / "reviews_Grocery_5.json.gz", REVIEWS)
    meta = _gz(tmp_path / "meta_Grocery.json.gz", META)
    with caplog.at_level(logging.INFO, logger="genrec.data"):
        ds = load_amazon_raw(reviews, meta, k_core=2, quiet=True)
    assert ds.name == "amazon2014-raw-grocery"
    # users numbered by first appearance (U2, U1, U3, U4; U5 removed), each user's reviews
    # stably sorted by time (U2: B then A, both at t=200, keep file order), items numbered by
    # first appearance in that user-grouped, time-sorted stream: C B A D | A B C | D A | D A B C
    assert ds.user_ids == ["1", "2", "3", "4"] and ds.item_ids == ["1", "2", "3", "4"]
    assert [r["asin"] for r in ds.items] == ["C", "B", "A", "D"]
    assert [s.tolist() for s in ds.sequences] == [[0, 1, 2, 3], [2, 1, 0], [3, 2], [3, 2, 1, 0]]
    assert ds.items[2] == {"title": "Apple", "brand": "Acme", "categories": [["Food", "Fruit"]],
                           "asin": "A"}
    assert ds.items[1]["title"] == "Banana" and ds.items[0]["title"] == ""  # C has no title
    assert ds.items[3] == {"title": "", "brand": None, "categories": [], "asin": "D"}
    assert "kcore_users_removed': 1" in caplog.text and "1 items have no text" in caplog.text


def test_iterative_kcore(tmp_path: Path) -> None:
    reviews = _gz(tmp_path / "reviews_Grocery_5.json.gz", REVIEWS)
    ds, report = load_amazon_raw_with_report(reviews, k_core=3, quiet=True)
    assert not ds.has_text and ds.n_users == 3 and ds.n_items == 3
    assert [s.tolist() for s in ds.sequences] == [[0, 1, 2], [2, 1, 0], [2, 1, 0]]
    assert (report.kcore_users_removed, report.kcore_items_removed) == (2, 1)
    assert report.kcore_interactions_removed == 5 and report.rows == 14
    assert report.kcore_rounds == 3  # U5+U3 out, then D out, then stable
    with pytest.raises(DataError, match="no interactions left after 4-core"):
        load_amazon_raw(reviews, k_core=4, quiet=True)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"reviewerID": "U9", "asin": "A", ', "not valid JSON"),
        ('{"reviewerID": "U9", "asin": "A"}', "missing field"),
        ('{"reviewerID": "U9", "asin": "A", "unixReviewTime": "soon"}', "'soon'"),
        ("{'reviewerID': 'U9', 'asin': 'A', 'unixReviewTime': 5}", "not valid JSON"),
    ],
)
def test_bad_review_lines(tmp_path: Path, line: str, needle: str) -> None:
    reviews = _gz(tmp_path / "reviews_X_5.json.gz", [*REVIEWS[:3], line])
    with pytest.raises(DataError) as e:
        load_amazon_raw(reviews, k_core=1, quiet=True)
    assert f"{reviews}:4" in str(e.value) and needle in str(e.value)


def test_bad_meta_lines(tmp_path: Path) -> None:
    reviews = _gz(tmp_path / "reviews_X_5.json.gz", REVIEWS)
    meta = _gz(tmp_path / "meta_X.json.gz", [META[1], "{'asin': 'B', 'title': oops}"])
    with pytest.raises(DataError) as e:
        load_amazon_raw(reviews, meta, k_core=1, quiet=True)
    assert f"{meta}:2" in str(e.value) and "neither a Python dict literal nor JSON" in str(e.value)
    meta = _gz(tmp_path / "meta_X.json.gz", [META[1], META[1]])
    with pytest.raises(DataError, match=r"meta_X.json.gz:2: duplicate asin \(first on line 1\)"):
        load_amazon_raw(reviews, meta, k_core=1, quiet=True)
    (tmp_path / "reviews_Y_5.json.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match="file is empty"):
        load_amazon_raw(tmp_path / "reviews_Y_5.json.gz", quiet=True)


def test_load_dataset_from_folder(tmp_path: Path) -> None:
    _gz(tmp_path / "reviews_Grocery_5.json.gz", REVIEWS)
    _gz(tmp_path / "meta_Grocery.json.gz", META)
    ds = load_dataset(str(tmp_path), k_core=3)
    assert ds.n_users == 3 and ds.has_text and ds.title(2) == "Apple"
    _gz(tmp_path / "reviews_Other_5.json.gz", REVIEWS)
    with pytest.raises(DataError, match="expected exactly one"):
        load_dataset(str(tmp_path))


def _real_root() -> Path | None:
    env = os.environ.get("GENREC_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if (root / "amazon2014-beauty").is_dir() else None


@pytest.mark.slow
@pytest.mark.skipif(_real_root() is None, reason="real data not found (set GENREC_DATA)")
def test_rebuilds_real_beauty_from_raw_form(tmp_path: Path) -> None:
    """Write real Beauty back out in the raw format (shuffled lines, same-day ties, Python-dict
    meta) and check the S3-Rec recipe rebuilds the staged benchmark exactly."""
    bench = load_benchmark("amazon2014-beauty", _real_root())
    rng = random.Random(0)
    first, rest = [], []
    for u, seq in enumerate(bench.sequences):
        # position p gets day p // 2: pairs share a day, so only file order can order them
        reviews = [(f"R{u}", bench.items[i]["asin"], p // 2) for p, i in enumerate(seq)]
        # newest day first in the file (ties in original order): the sort must undo this
        reviews.sort(key=lambda r: -r[2])
        first.append(reviews[0])
        rest.extend((r, k) for k, r in enumerate(reviews[1:]))
    rng.shuffle(rest)
    rest.sort(key=lambda rk: rk[1])  # keep each user's lines in order, interleave users
    lines = [_review(*r) for r in first] + [_review(*r) for r, _ in rest]
    reviews_path = _gz(tmp_path / "reviews_Beauty_5.json.gz", lines)
    meta = [repr(dict(r)) for r in reversed(bench.items)]
    meta_path = _gz(tmp_path / "meta_Beauty.json.gz", meta)
    ds, report = load_amazon_raw_with_report(reviews_path, meta_path, quiet=True)
    assert report.kcore_interactions_removed == 0 and report.items_without_text == 0
    assert ds.item_ids == bench.item_ids and ds.user_ids == bench.user_ids
    assert all((a == b).all() for a, b in zip(ds.sequences, bench.sequences, strict=True))
    assert ds.items == bench.items
