"""New items read through their content neighbours, and fresh slots for added items
(genrec.coldstart), each against a slow reference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from genrec import coldstart
from genrec.catalog import Catalog


def test_neighbour_rows_are_the_nearest_by_cosine():
    rng = np.random.default_rng(0)
    trained, new = coldstart.unit(rng.normal(size=(50, 8))), coldstart.unit(rng.normal(size=(6, 8)))
    got = coldstart.neighbour_rows(new, trained, k=4)
    for m in range(len(new)):
        want = np.argsort(-(trained @ new[m]))[:4]
        assert sorted(got[m].tolist()) == sorted(want.tolist())


@pytest.fixture
def catalog(head_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(head_run, out)
    return Catalog(out, persist=True)


def _twins(cat: Catalog, rows: list[int], seed: int = 0) -> list[dict]:
    """New items whose content vectors sit next to trained rows' vectors."""
    rng = np.random.default_rng(seed)
    content = cat.snapshot.content
    return [{"id": f"new{j}", "title": f"Twin of {cat.snapshot.item_ids[r]}",
             "vector": (content[r] + rng.normal(0, 1e-3, content.shape[1])).tolist()}
            for j, r in enumerate(rows)]


def test_a_new_item_reads_as_the_mean_of_its_content_neighbours(catalog):
    catalog.add(_twins(catalog, [10, 200, 777]))
    snap = catalog.snapshot
    model = snap.rec.model
    with torch.no_grad():
        table = model.item_table(torch.from_numpy(snap.codes))  # [N, d], new rows included
    content = snap.content
    for row in range(snap.n_trained, len(snap.codes)):
        near = np.argsort(-(content[: snap.n_trained] @ content[row]))[: coldstart.NEIGHBOURS]
        torch.testing.assert_close(table[row], table[torch.from_numpy(near)].mean(0))


def test_fresh_slots_rank_added_items_by_content_and_head(catalog, monkeypatch):
    hist = np.array([5, 60, 10])  # newest last: item 10
    catalog.add(_twins(catalog, [10, 200, 777, 1234]))
    snap = catalog.snapshot
    monkeypatch.setattr(coldstart, "FRESH_MARGIN", float("inf"))  # picks always take a slot
    monkeypatch.setattr(coldstart, "HEAD_SHARE", 0.0)  # content alone: slow reference below
    lists = snap.recommend([hist], 10, [hist.tolist()], fresh=2)[0]
    rows = [r for r, _ in lists]
    assert len(rows) == 10 and all(r < snap.n_trained for r in rows[:8])
    content = snap.content
    weights = coldstart.DECAY ** np.arange(len(hist))[::-1]
    query = (weights[:, None] * content[hist]).sum(0)
    new = np.arange(snap.n_trained, len(snap.codes))
    assert rows[8:] == new[np.argsort(-(content[new] @ query))[:2]].tolist()
    assert rows[8] == snap.row_of["new0"]  # the twin of the newest history item
    monkeypatch.setattr(coldstart, "HEAD_SHARE", 1.0)  # the item head alone
    head = snap.rec.item_log_probs([hist])[0, new]
    rows = [r for r, _ in snap.recommend([hist], 10, [hist.tolist()], fresh=2)[0]]
    assert rows[8:] == new[torch.argsort(head, descending=True)[:2].numpy()].tolist()


def test_fresh_slots_skip_excluded_and_retired_items(catalog):
    catalog.add(_twins(catalog, [10, 200]))
    first = catalog.snapshot.row_of["new0"]
    catalog.retire(["new1"])
    snap = catalog.snapshot
    lists = snap.recommend([np.array([10, first])], 10, [[10, first]], fresh=3)[0]
    rows = [r for r, _ in lists]
    assert first not in rows and snap.row_of["new1"] not in rows
    assert len(rows) == 10 and all(r < snap.n_trained for r in rows)  # no added item left
    with pytest.raises(ValueError, match="fresh"):
        snap.recommend([np.array([10])], 10, None, fresh=11)


def test_fresh_picks_displace_trained_items_only_within_the_margin(monkeypatch):
    monkeypatch.setattr(coldstart, "FRESH_MARGIN", 1.0)
    head = torch.tensor([-1.0, -2.0, -3.0, -4.0, -2.5, -9.0])  # log p of rows 0..5
    warm = [(0, 0.0), (1, -1.0), (2, -2.0), (3, -3.0)]
    picks = [(4, 5.0), (5, 4.0)]
    # row 4 (-2.5) is within 1 nat of row 3 (-4.0): it displaces it; row 5 (-9.0) is not
    # within 1 nat of row 2 (-3.0): it stops there
    assert coldstart.merge_fresh(warm, picks, head, 4) == [(0, 0.0), (1, -1.0), (2, -2.0),
                                                          (4, 5.0)]
    # room left in a short list: picks join without displacing anything
    assert coldstart.merge_fresh(warm[:2], picks, head, 4) == warm[:2] + picks
    monkeypatch.setattr(coldstart, "FRESH_MARGIN", float("-inf"))
    assert coldstart.merge_fresh(warm, picks, head, 4) == warm


def test_a_restart_restores_the_same_new_item_vectors(catalog):
    catalog.add(_twins(catalog, [10, 200]))
    before = catalog.snapshot
    catalog.close()
    after = Catalog(catalog.run_dir, persist=False).snapshot
    np.testing.assert_allclose(after.content, before.content, atol=1e-6)
    torch.testing.assert_close(after.rec.model.item.weight, before.rec.model.item.weight)


def test_corrupt_or_mismatched_content_vectors_name_the_file(head_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(head_run, out)
    path = out / "index" / coldstart.CONTENT_FILE
    good = np.load(path)
    path.write_bytes(path.read_bytes()[:100])  # a truncated write
    with pytest.raises(ValueError, match=r"content\.npy.*unreadable|unreadable.*content\.npy"):
        Catalog(out)
    np.save(path, good[:-1])  # one row short of the catalogue
    with pytest.raises(ValueError, match=rf"content\.npy.*{len(good)} items|"
                                         rf"{len(good)} items.*content\.npy"):
        Catalog(out)
