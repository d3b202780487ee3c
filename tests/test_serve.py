"""The HTTP service: every bad input is a 4xx naming the field; add -> recommend -> delete;
micro-batching under concurrency; changes survive a restart and a crash."""

from __future__ import annotations

import shutil
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from serving_helpers import free_port, serve

from genrec.catalog import Catalog
from genrec.coldstart import ColdStart, save_coldstart
from genrec.serve import create_app


@pytest.fixture
def run(serving_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(serving_run, out)
    return out


@pytest.fixture
def client(run):
    with TestClient(create_app(run, warm=False)) as c:
        yield c


def _vector(client: TestClient, like: str) -> list[float]:
    """A vector whose code is item `like`'s (the tiny run's quantizer is residual k-means)."""
    from genrec.semantic_ids.build import load_quantizer

    cat = client.app.state.catalog
    books = load_quantizer(cat.run_dir / "index", "rkmeans").codebooks
    code = cat.snapshot.codes[cat.snapshot.row_of[like]]
    return sum(books[lvl, code[lvl]] for lvl in range(books.shape[0])).tolist()


BAD_RECOMMEND = [
    ({"history": ["1", "nope"]}, "history[1]", "unknown item id 'nope'"),
    ({"history": []}, "history", "at least 1 item"),
    ({"k": 5}, "history", "Field required"),
    ({"history": ["1"], "k": 0}, "k", "greater than or equal to 1"),
    ({"history": ["1"], "k": 101}, "k", "less than or equal to 100"),
    ({"history": ["1"], "k": "10"}, "k", "valid integer"),  # strict: no coercion
    ({"history": ["1"], "exclude": ["1", "zz"]}, "exclude[1]", "unknown item id 'zz'"),
    ({"history": ["1"], "explain": 0}, "explain", "valid boolean"),
    ({"history": ["1"], "kk": 3}, "kk", "Extra inputs are not permitted"),
    ({"history": [1]}, "history[0]", "valid string"),
    ({"history": ["a/b"]}, "history[0]", "pattern"),
    ({"history": ["1"], "fresh": -1}, "fresh", "greater than or equal to 0"),
    ({"history": ["1"], "k": 2, "fresh": 3}, "fresh", "3 slots asked for a list of k=2"),
]


@pytest.mark.parametrize("body,field,message", BAD_RECOMMEND)
def test_bad_recommend_requests_are_422_naming_the_field(client, body, field, message):
    r = client.post("/recommend", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and message in r.json()["detail"]
    assert r.json()["detail"].startswith(field)


def test_malformed_json_and_wrong_types_of_body(client):
    for raw, ctype in [(b'{"history": ["1"', "application/json"), (b"[1, 2]", "application/json"),
                       (b'{"history": ["1"]}', "text/plain"), (b"", "application/json")]:
        r = client.post("/recommend", content=raw, headers={"content-type": ctype})
        assert r.status_code == 422 and r.json()["field"] == "body", (raw, r.text)
    assert "malformed JSON" in client.post(
        "/recommend", content=b"{", headers={"content-type": "application/json"}).json()["detail"]


def test_oversized_bodies_are_413(run):
    with TestClient(create_app(run, warm=False, max_body=10_000)) as c:
        big = {"history": ["1"], "pad": "x" * 20_000}
        assert c.post("/recommend", json=big).status_code == 413
        chunks = (b"x" * 4000 for _ in range(5))  # no Content-Length: counted as it streams
        r = c.post("/recommend", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["field"] == "body"


def test_long_histories_are_truncated_and_say_so(client):
    r = client.post("/recommend", json={"history": [str(i) for i in range(1, 13)], "k": 3})
    body = r.json()
    assert r.status_code == 200 and body["truncated"] and body["history_used"] == 5
    assert any(n.startswith("history: 12 items") for n in body["notes"])
    assert len(body["items"]) == 3 and "path" not in body["items"][0]
    assert not {it["id"] for it in body["items"]} & {str(i) for i in range(1, 13)}  # excluded


def test_add_recommend_delete_round_trip(run):
    cat = Catalog(run, persist=False, explain=True)
    cat.retire([str(i) for i in range(31, 1501)])  # 30 items left: k=50 lists them all
    with TestClient(create_app(catalog=cat, warm=False)) as c:
        new = {"id": "new-1", "title": "OPI Nail Lacquer, Bubble Bath", "brand": "OPI",
               "categories": [["Beauty", "Makeup", "Nails", "Nail Polish"]]}
        r = c.post("/items", json={"items": [new]})
        assert r.status_code == 201, r.text
        added = r.json()["items"][0]
        assert len(added["semantic_id"]) == 4 and added["path"].endswith(
            f"#{added['semantic_id'][-1]}")
        assert c.post("/items", json={"items": [new]}).status_code == 409  # added twice
        ids = [it["id"] for it in c.post("/recommend", json={"history": ["1"], "k": 50,
                                                             "explain": True}).json()["items"]]
        assert "new-1" in ids and "100" not in ids and len(ids) == 30
        info = c.get("/items/new-1").json()
        assert info["added"] and info["active"] and info["path"] == added["path"]
        assert c.delete("/items/new-1").json()["removed"]
        ids = [it["id"] for it in c.post("/recommend", json={"history": ["new-1"], "k": 50}
                                         ).json()["items"]]
        assert "new-1" not in ids and len(ids) == 30
        gone = c.get("/items/new-1")
        assert gone.status_code == 410 and "was removed" in gone.json()["detail"]
        assert c.delete("/items/new-1").status_code == 404
        assert c.get("/items/nope").status_code == 404


def test_fresh_slots_show_added_items_or_say_why_not(run, leaf_run, tmp_path):
    twin = {"id": "new-1", "title": "OPI Nail Lacquer, Bubble Bath", "brand": "OPI"}
    with TestClient(create_app(run, warm=False)) as c:  # no item head: cannot rank new items
        assert c.post("/items", json={"items": [twin]}).status_code == 201
        r = c.post("/recommend", json={"history": ["1"], "k": 5, "fresh": 1})
        assert r.status_code == 422 and r.json()["field"] == "fresh", r.text
        assert "item_loss" in r.json()["detail"]
    shutil.copytree(leaf_run, tmp_path / "leaf")
    # the run's own cold-start constants: new items win whenever the beam reaches them
    save_coldstart(tmp_path / "leaf", ColdStart(bias=40.0, margin=(100.0,)))
    twins = [twin | {"id": f"new-{j}"} for j in (1, 2, 3)]
    with TestClient(create_app(tmp_path / "leaf", warm=False)) as c:
        assert c.post("/items", json={"items": twins}).status_code == 201
        hist = {"history": ["1", "2"], "k": 5}
        plain = [it["id"] for it in c.post("/recommend", json=hist).json()["items"]]
        ids = [it["id"] for it in c.post("/recommend", json=hist | {"fresh": 1}
                                         ).json()["items"]]
        assert sum(i.startswith("new-") for i in plain) == 3  # generated, on top
        # one fresh slot: the trained list's first four, then the best new item
        assert len(ids) == 5 and ids[:2] == plain[3:] and ids[4].startswith("new-")
        assert not any(i.startswith("new-") for i in ids[:4])


def test_bad_new_items_are_4xx_naming_the_field(client):
    cases = [
        ({"items": []}, 422, "items"),
        ({"items": [{"id": "x"}]}, 422, "items[0].title"),
        ({"items": [{"id": "x", "title": " "}]}, 422, "items[0].title"),
        ({"items": [{"id": "x", "title": "t", "colour": "red"}]}, 422, "items[0].colour"),
        ({"items": [{"id": "x", "title": "t", "vector": [1.0]}]}, 422, "items[0].vector"),
        ({"items": [{"id": "1", "title": "t"}]}, 409, "items[0].id"),
        ({"items": [{"id": "y", "title": "a"}, {"id": "y", "title": "b"}]}, 409, "items[1].id"),
    ]
    for body, status, field in cases:
        r = client.post("/items", json=body)
        assert (r.status_code, r.json()["field"]) == (status, field), (body, r.text)
    assert client.get("/health").json()["items"] == 1500  # nothing half-added


def test_concurrent_requests_share_decodes_and_survive_changes(client):
    histories = [[str(1 + (7 * i + j) % 1500) for j in range(1 + i % 6)] for i in range(160)]

    def ask(h: list[str]) -> int:
        return client.post("/recommend", json={"history": h, "k": 5}).status_code

    with ThreadPoolExecutor(16) as pool:
        answers = pool.map(ask, histories)
        for i in range(3):  # items come and go and the model is swapped mid-load
            vec = _vector(client, str(10 + i))
            assert client.post("/items", json={"items": [{"id": f"n{i}", "title": "t",
                                                          "vector": vec}]}).status_code == 201
            assert client.delete(f"/items/{100 + i}").status_code == 200
            assert client.post("/admin/reload").status_code == 200
        assert set(answers) == {200}
    health = client.get("/health").json()
    assert health["mean_batch"] > 1.0 and health["model_version"] == 3
    assert health["items"] == 1503 and health["active_items"] == 1500


def test_changes_survive_a_restart(run):
    with TestClient(create_app(run, warm=False)) as c:
        vec = _vector(c, "20")
        assert c.post("/items", json={"items": [{"id": "kept", "title": "t", "vector": vec}]}
                      ).status_code == 201
        assert c.delete("/items/5").status_code == 200
        before = c.get("/items/kept").json()
    with TestClient(create_app(run, warm=False)) as c:
        assert c.get("/items/kept").json() == before
        assert c.get("/items/5").status_code == 410
        assert c.get("/health").json()["active_items"] == 1500


@pytest.mark.slow
def test_acknowledged_changes_survive_a_crash(run):
    port = free_port()
    proc = serve(run, port)
    url = f"http://127.0.0.1:{port}"
    try:
        item = {"id": "crash-1", "title": "Maybelline Great Lash Mascara, Very Black",
                "brand": "Maybelline", "categories": [["Beauty", "Makeup", "Eyes", "Mascara"]]}
        r = httpx.post(f"{url}/items", json={"items": [item]}, timeout=120)
        assert r.status_code == 201, r.text
        assert httpx.delete(f"{url}/items/3", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: only what was committed
        proc.wait()
    proc = serve(run, port)
    try:
        got = httpx.get(f"{url}/items/crash-1", timeout=30).json()
        assert got["semantic_id"] == r.json()["items"][0]["semantic_id"] and got["active"]
        assert httpx.get(f"{url}/items/3", timeout=30).status_code == 410
        recs = httpx.post(f"{url}/recommend", json={"history": ["crash-1", "1"]}, timeout=30)
        assert recs.status_code == 200 and len(recs.json()["items"]) == 10
        assert "3" not in [it["id"] for it in recs.json()["items"]]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_405_lists_every_method_of_the_path(client):
    r = client.put("/items/1", json={})
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"


def test_health_and_docs(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["window"] == 5 and health["active_items"] == 1500
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommend", "/items", "/items/{item_id}", "/health"} <= set(paths)
    assert "422" in paths["/recommend"]["post"]["responses"]
