"""The web page's JSON (GET /items?q=, GET /tree), the page itself and the offline docs,
through the app in process (the browser flow is tests/test_web_browser.py)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec.serve import create_app
from genrec.serve.browse import ItemSearch, tokens


@pytest.fixture(scope="module")
def run(serving_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(serving_run, out)
    return out


@pytest.fixture(scope="module")
def client(run):
    with TestClient(create_app(run, warm=False)) as c:
        yield c


def _snap(client: TestClient):
    return client.app.state.catalog.snapshot


def test_search_finds_an_item_by_id_title_and_brand(client):
    snap = _snap(client)
    row = next(r for r, rec in enumerate(snap.records) if rec.get("brand") and r > 100)
    rec = snap.records[row]
    by_id = client.get("/items", params={"q": snap.item_ids[row]}).json()
    assert by_id["items"][0]["id"] == snap.item_ids[row]  # the id itself ranks first
    assert by_id["items"][0]["semantic_id"] == snap.codes[row].tolist()
    assert " › " in by_id["items"][0]["path"]
    title = client.get("/items", params={"q": rec["title"][:-1], "limit": 100}).json()
    assert snap.item_ids[row] in [it["id"] for it in title["items"]]
    brand = client.get("/items", params={"q": rec["brand"], "limit": 100}).json()
    assert brand["total"] >= 1
    assert snap.item_ids[row] in _all_ids(client, rec["brand"], brand["total"])


def _all_ids(client: TestClient, q: str, total: int) -> list[str]:
    out: list[str] = []
    for offset in range(0, total, 100):
        out += [it["id"] for it in client.get("/items", params={
            "q": q, "limit": 100, "offset": offset}).json()["items"]]
    return out


def test_search_is_an_and_of_word_prefixes_matching_a_scan(client):
    """Every query word must start a word of the id, title or brand: checked against a
    straightforward scan of every record, and pages add up to the total in rank order."""
    snap = _snap(client)
    for q in ["nail polish", "shamp", "eye", "oil hair", "zzzqx"]:
        words = tokens(q)
        expect = {snap.item_ids[r] for r, rec in enumerate(snap.records)
                  if all(any(t.startswith(w) for t in tokens(f"{rec['id']} {rec.get('title')} "
                                                            f"{rec.get('brand') or ''}"))
                             for w in words)}
        res = client.get("/items", params={"q": q, "limit": 7}).json()
        assert res["total"] == len(expect), q
        ids = _all_ids(client, q, res["total"])
        assert len(ids) == len(set(ids)) and set(ids) == expect, q
        assert ids[:7] == [it["id"] for it in res["items"]]


def test_whole_words_rank_before_prefixes(client):
    hits = client.get("/items", params={"q": "oil", "limit": 100}).json()["items"]
    whole = ["oil" in tokens(f"{h['title']} {h.get('brand') or ''}") for h in hits]
    assert whole == sorted(whole, reverse=True) and any(whole) and not all(whole)


BAD_SEARCH = [({"q": ""}, "q"), ({"q": "   "}, "q"), ({}, "q"), ({"q": "x" * 201}, "q"),
              ({"q": "a", "limit": 0}, "limit"), ({"q": "a", "limit": 101}, "limit"),
              ({"q": "a", "limit": "ten"}, "limit"), ({"q": "a", "offset": -1}, "offset"),
              ({"q": "a", "offset": 10_001}, "offset")]


@pytest.mark.parametrize("params,field", BAD_SEARCH)
def test_bad_searches_are_422_naming_the_field(client, params, field):
    r = client.get("/items", params=params)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_tree_walks_every_level_and_counts_add_up(client):
    snap = _snap(client)
    root = client.get("/tree").json()
    assert root["prefix"] == [] and root["items"] == 1500 and root["levels"] == 4
    assert sum(c["items"] for c in root["children"]) == 1500
    first = root["children"][0]
    assert first["label"] == snap.labels.names[(first["code"],)]
    assert 1 <= len(first["examples"]) <= 3
    prefix = first["prefix"]
    for depth in range(1, 4):
        node = client.get("/tree", params={"prefix": ",".join(map(str, prefix))}).json()
        assert node["labels"] == [snap.labels.names[tuple(prefix[:d + 1])] for d in range(depth)]
        under = (snap.codes[:, :depth] == prefix).all(axis=1)
        assert node["items"] == int(under.sum()) == sum(c["items"] for c in node["children"])
        assert all(c["leaf"] == (depth == 3) for c in node["children"])
        prefix = node["children"][-1]["prefix"]
    leaf = node["children"][-1]
    row = snap.row_of[leaf["item"]["id"]]
    assert snap.codes[row].tolist() == leaf["prefix"] and leaf["items"] == 1


@pytest.mark.parametrize("prefix,status", [("a", 422), ("1,,2", 422), ("1, 2", 422),
                                           ("-1", 422), ("1,2,3,4", 422), ("999", 404)])
def test_bad_tree_prefixes_name_the_field(client, prefix, status):
    r = client.get("/tree", params={"prefix": prefix})
    assert r.status_code == status and r.json()["field"] == "prefix", r.text


def test_added_and_removed_items_show_in_search_and_tree(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    with TestClient(create_app(out, warm=False)) as c:
        new = {"id": "web-new-1", "title": "Zanzibar Velvet Lip Crayon", "brand": "Qwertyco",
               "categories": [["Beauty", "Makeup", "Lips", "Lipstick"]]}
        added = c.post("/items", json={"items": [new]}).json()["items"][0]
        hit = c.get("/items", params={"q": "zanzib qwerty"}).json()
        assert hit["total"] == 1 and hit["items"][0]["added"] is True
        sid = added["semantic_id"]
        leaves = c.get("/tree", params={"prefix": ",".join(map(str, sid[:-1]))}).json()
        mine = [n for n in leaves["children"] if n["item"]["id"] == "web-new-1"]
        assert mine and mine[0]["prefix"] == sid
        assert c.delete("/items/web-new-1").status_code == 200
        gone = c.get("/items", params={"q": "zanzibar"}).json()["items"][0]
        assert gone["active"] is False  # still searchable: it may be in a history
        leaves = c.get("/tree", params={"prefix": ",".join(map(str, sid[:-1]))}).json()
        assert leaves["active_items"] == leaves["items"] - 1


class _NoScan(list):
    def __iter__(self):
        raise AssertionError("a query read every record")

    def __getitem__(self, i):
        raise AssertionError("a query read a record")


def test_search_reads_its_index_not_the_records(client):
    snap = _snap(client)
    index = ItemSearch(snap)
    expect = index.search(snap, "nail pol", 5, 0)
    blind = replace(snap, records=_NoScan(snap.records))
    assert index.search(blind, "nail pol", 5, 0) == expect and expect[0] > 0


def test_page_and_docs_reference_only_their_own_host(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for hook in ["search", "recommend", "add-title", "add-submit", "added-path"]:
        assert f'data-testid="{hook}"' in page.text
    js = client.get("/static/app.js").text
    for hook in ["search-result", "history-item", "rec-item", "rec-path", "tree-node"]:
        assert f'"{hook}"' in js
    for url in ["/docs", "/redoc"]:
        html = client.get(url).text
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", html), url
        for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html):
            assert client.get(asset).status_code == 200, asset
    assert "/items" in client.get("/openapi.json").json()["paths"]
    assert "/tree" in client.get("/openapi.json").json()["paths"]


def test_health_says_what_the_run_can_do(client, head_run):
    h = client.get("/health").json()
    assert h["fresh"] is False and h["add_items"] is True and "d_model 32" in h["model"]
    with TestClient(create_app(head_run, warm=False)) as c:
        assert c.get("/health").json()["fresh"] is True


@pytest.fixture(scope="module")
def search_index(client):
    snap = _snap(client)
    words = sorted({w for r in snap.records for w in tokens(f"{r['id']} {r.get('title')} "
                                                          f"{r.get('brand') or ''}")})
    return snap, ItemSearch(snap), words


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 8)), min_size=1,
                      max_size=3))
def test_search_equals_a_scan_for_any_word_prefixes(search_index, picks):
    """Random queries of one to three word prefixes (of real catalogue words): the index
    finds exactly the items a scan of every record finds."""
    snap, index, words = search_index
    query = " ".join(words[i % len(words)][:n] for i, n in picks)
    want = tokens(query)
    expect = {r for r, rec in enumerate(snap.records)
              if all(any(t.startswith(w) for t in tokens(f"{rec['id']} {rec.get('title')} "
                                                        f"{rec.get('brand') or ''}"))
                     for w in want)}
    total, rows = index.search(snap, query, 100_000, 0)
    assert total == len(expect) and set(rows) == expect, query
