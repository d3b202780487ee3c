"""The service on a run made from the user's own files, and the service and the CLI changing
one catalogue: the service picks up `genrec add-items` / `remove-items`, never wedges, and its
catalog_version never goes backwards across a restart."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest
from conftest import genrec_cli
from serving_helpers import free_port, serve

pytestmark = pytest.mark.slow


def test_serve_answers_recommend_on_an_own_data_run(own_run):
    port = free_port()
    proc = serve(own_run[0], port)
    try:
        res = httpx.post(f"http://127.0.0.1:{port}/recommend",
                         json={"history": ["1", "2", "3"], "k": 5, "explain": True}, timeout=30)
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        assert len(items) == 5 and all(len(p) > 1 for p in items[0]["path"].split(" › ")[:-1])
        missing = httpx.get(f"http://127.0.0.1:{port}/no-such-thing", timeout=10)
        assert missing.status_code == 404 and missing.json()["field"] == "path"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for(check, seconds: float = 10.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_service_picks_up_cli_changes_and_keeps_its_version(own_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(own_run[0], run)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(run, port)
    try:
        def add(item_id: str) -> httpx.Response:
            return httpx.post(f"{url}/items", timeout=60, json={"items": [
                {"id": item_id, "title": f"Movie {item_id} (2001)"}]})

        assert add("svc-1").status_code == 201
        new = tmp_path / "cli.jsonl"
        new.write_text(json.dumps({"id": "cli-1", "title": "Heat (1995)",
                                   "genres": "Action|Crime|Thriller"}) + "\n")
        done = genrec_cli("add-items", "--run", str(run), "--items", str(new))
        assert done.returncode == 0, done.stderr
        after = add("svc-2")  # used to be 409 "changed by another process" from here on
        assert after.status_code == 201, after.text
        assert httpx.get(f"{url}/items/cli-1", timeout=10).status_code == 200
        assert genrec_cli("remove-items", "--run", str(run), "--ids", "svc-1").returncode == 0
        assert _wait_for(lambda: httpx.get(f"{url}/items/svc-1", timeout=10).status_code == 410)
        version = httpx.get(f"{url}/health", timeout=10).json()["catalog_version"]
        assert version == 4  # svc-1, cli-1, svc-2, the removal: one version each
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc = serve(run, port)
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["catalog_version"] == version and health["active_items"] == 1349 + 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
