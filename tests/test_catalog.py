"""New items with the frozen quantizer, retiring items, persistence and snapshot isolation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genrec.catalog import Catalog, ItemConflict, UnknownItem
from genrec.errors import GenrecError
from genrec.semantic_ids.assign import CodingError, NewItemCoder, assign_codes


def test_collision_takes_the_next_free_token_then_the_next_nearest_code():
    taken = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    raw = np.array([[0, 0], [0, 0], [0, 0]])  # three items want prefix (0, 0)
    cost = np.array([[0.0, 1.0, 2.0]] * 3)  # then last-level code 1, then 2
    codes = assign_codes(raw, cost, taken, [2, 3, 3])
    # (0, 0) has room for token 2 only; then (0, 1) has 1 and 2 free
    assert codes.tolist() == [[0, 0, 2], [0, 1, 1], [0, 1, 2]]
    with pytest.raises(CodingError, match="every semantic ID near its code is taken"):
        assign_codes(np.zeros((4, 2), dtype=np.int64), np.zeros((4, 2)), codes, [1, 2, 3],
                     ["x1", "x2", "x3", "x4"])


def test_methods_without_a_quantizer_say_so(serving_run):
    with pytest.raises(CodingError, match="method 'hkmeans'.*rqvae or rkmeans"):
        NewItemCoder(serving_run / "index", "hkmeans")


@pytest.fixture
def run(serving_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(serving_run, out)
    return out


def _vector(cat: Catalog, like: int, seed: int = 0) -> list[float]:
    """A vector next to an existing item's (its codes collide with that item's)."""
    from genrec.semantic_ids.build import load_quantizer

    books = load_quantizer(cat.run_dir / "index", "rkmeans").codebooks  # [L, K, d]
    code = cat.snapshot.codes[like]
    v = sum(books[lvl, code[lvl]] for lvl in range(books.shape[0]))
    v = v + np.random.default_rng(seed).normal(0, 1e-4, v.shape)
    return v.astype(np.float32).tolist()


def test_new_items_are_decodable_at_once(run):
    cat = Catalog(run, persist=False)
    before = cat.snapshot
    added = cat.add([{"id": "n1", "title": "Twin of item 0", "vector": _vector(cat, 0)},
                     {"id": "n2", "title": "Twin of item 0", "vector": _vector(cat, 0, 1)}])
    snap = cat.snapshot
    assert [a.row for a in added] == [1500, 1501] and snap.n_active == 1502
    assert added[0].semantic_id[:-1] == before.codes[0, :-1].tolist()  # same code, own token
    assert len({tuple(c) for c in snap.codes.tolist()}) == len(snap.codes)  # still unique
    hist = snap.rows(["1"], "history")
    found = snap.recommend([hist], 5, [list(range(1500))])[0]  # only new items are left
    assert sorted(r for r, _ in found) == [1500, 1501]
    assert before.n_active == 1500  # the old snapshot is untouched
    # a new item in a history reads its code neighbours' mean item vector, not a crash
    model = snap.rec.model
    assert model.item.weight.shape[0] == 1502
    assert cat.snapshot.recommend([snap.rows(["n1", "1"], "history")], 3, None)[0]


def test_text_items_are_embedded_and_coded(run):
    cat = Catalog(run, persist=False)
    added = cat.add([{"id": "t1", "title": "OPI Nail Lacquer, Bubble Bath", "brand": "OPI",
                      "categories": [["Beauty", "Makeup", "Nails", "Nail Polish"]]}])
    assert len(added[0].semantic_id) == 4
    with pytest.raises(CodingError, match=r"items\[0\]\.title"):
        cat.add([{"id": "t2", "title": "  "}])


def test_retired_items_leave_the_trie_but_stay_readable(run):
    cat = Catalog(run, persist=False)
    old = cat.snapshot
    cat.retire(["2", "3"])
    snap = cat.snapshot
    everything = snap.recommend([snap.rows(["2"], "history")], 1500, None)[0]
    rows = {r for r, _ in everything}
    assert len(rows) == 1498 and not rows & {1, 2}
    assert old.active[1] and not snap.active[1]  # a request on the old snapshot is unaffected
    with pytest.raises(UnknownItem, match="already removed"):
        cat.retire(["2"])
    with pytest.raises(UnknownItem, match=r"ids\[1\]: unknown item id 'zzz'"):
        cat.retire(["4", "zzz"])
    assert cat.snapshot.active[3]  # all or nothing


def test_changes_persist_and_replay(run):
    cat = Catalog(run)
    cat.add([{"id": "n1", "title": "new", "vector": _vector(cat, 5)}])
    cat.retire(["n1", "7"])
    codes = cat.snapshot.codes.copy()
    cat.close()
    again = Catalog(run)
    snap = again.snapshot
    assert snap.item_ids[-1] == "n1" and (snap.codes == codes).all()
    assert not snap.active[snap.row_of["n1"]] and not snap.active[snap.row_of["7"]]
    with pytest.raises(ItemConflict, match="already in the catalogue"):
        again.add([{"id": "8", "title": "dup"}])
    with pytest.raises(ItemConflict, match="appears twice"):
        again.add([{"id": "x", "title": "a"}, {"id": "x", "title": "b"}])
    back = again.add([{"id": "n1", "title": "back in stock"}])  # re-listed: same ID
    assert back[0].restored and back[0].semantic_id == codes[-1].tolist()
    again.close()
    final = Catalog(run, model=False).snapshot
    assert final.active[final.row_of["n1"]] and not final.active[final.row_of["7"]]


def test_in_memory_changes_are_not_saved(run):
    cat = Catalog(run, persist=False)
    cat.retire(["1"])
    assert not (run / "catalog.sqlite").exists()
    assert Catalog(run, model=False).snapshot.n_active == 1500


def test_store_of_another_index_is_refused(run):
    cat = Catalog(run)
    cat.retire(["1"])
    cat.close()
    codes = np.load(run / "index" / "codes.npy")
    np.save(run / "index" / "codes.npy", codes[::-1].copy())
    with pytest.raises(GenrecError, match="another index"):
        Catalog(run, model=False)


def test_model_reload_keeps_the_catalogue(run):
    cat = Catalog(run, persist=False)
    cat.add([{"id": "n1", "title": "new", "vector": _vector(cat, 9)}])
    snap = cat.reload_model()
    assert snap.model_version == 1 and "n1" in snap.row_of
    assert snap.rec.model.item.weight.shape[0] == 1501  # trained rows + the new item's
    assert json.loads((run / "model.json").read_text())["n_items"] == 1500


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENREC_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "genrec.cli", *args], env=env, text=True,
                          capture_output=True, timeout=300)


def test_add_and_remove_items_from_the_command_line(run, tmp_path):
    cat = Catalog(run, model=False)
    items = tmp_path / "new.jsonl"
    items.write_text(json.dumps({"id": "cli-1", "title": "t", "vector": _vector(cat, 3)}) + "\n")
    done = _cli("add-items", "--run", str(run), "--items", str(items))
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["id"] == "cli-1" and len(row["semantic_id"]) == 4 and " › " in row["path"]
    assert _cli("add-items", "--run", str(run), "--items", str(items)).returncode == 2  # twice
    assert _cli("remove-items", "--run", str(run), "--ids", "cli-1").returncode == 0
    again = _cli("remove-items", "--run", str(run), "--ids", "cli-1")
    assert again.returncode == 2 and "already removed" in again.stderr
    meta = json.loads((run / "index" / "index.json").read_text())
    (run / "index" / "index.json").write_text(json.dumps(meta | {"method": "hkmeans"}))
    items.write_text(json.dumps({"id": "cli-2", "title": "t"}))
    refused = _cli("add-items", "--run", str(run), "--items", str(items))
    assert refused.returncode == 2 and "method 'hkmeans'" in refused.stderr
