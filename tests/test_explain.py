"""Prefix labels: distinctive, stored with the index, and shown as paths (CLI and service)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np

from genrec.explain import SEP, LabelMaker, Labels, build_labels

NAILS = [["Beauty", "Makeup", "Nails", "Nail Polish"]]
HAIR = [["Beauty", "Hair Care", "Shampoos"]]
RECORDS = [
    {"title": "OPI Nail Lacquer Red", "brand": "OPI", "categories": NAILS},
    {"title": "OPI Nail Lacquer Pink", "brand": "OPI", "categories": NAILS},
    {"title": "Essie Nail Polish Blue", "brand": "Essie", "categories": NAILS},
    {"title": "Suave Shampoo Daily", "brand": "Suave", "categories": HAIR},
    {"title": "Dove Shampoo Repair", "brand": "Dove", "categories": HAIR},
]
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1]])


def test_labels_name_what_sets_a_prefix_apart():
    labels = build_labels(CODES, RECORDS)
    # "Beauty" is on every item, so it says nothing; the deepest shared category does
    assert labels.names[(0,)] == "Nail Polish" and labels.names[(1,)] == "Shampoos"
    assert labels.names[(0, 0)] == "OPI lacquer"  # dominant brand + distinctive word
    assert labels.path(CODES[1]) == SEP.join(["Nail Polish", "OPI lacquer", "#1"])
    assert labels.path([0, 1, 0]).endswith("#0")


def test_labels_round_trip_and_extend_to_new_prefixes(tmp_path):
    labels = build_labels(CODES, RECORDS)
    labels.save(tmp_path / "labels.json")
    again = Labels.load(tmp_path / "labels.json")
    assert again.names == labels.names and again.fingerprint == labels.fingerprint
    new = again.extend(np.array([[2, 0, 0]]), [{"title": "Conair Hair Dryer", "brand": "Conair",
                                                "categories": [["Beauty", "Tools", "Dryers"]]}],
                       LabelMaker(RECORDS))
    assert new.path([2, 0, 0]) == SEP.join(["Dryers", "Conair dryer", "#0"])
    assert (2,) not in again.names  # extend copies


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENREC_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "genrec.cli", *args], env=env, text=True,
                          capture_output=True, timeout=300)


def test_explain_cli_prints_the_path_and_draws_the_hierarchy(serving_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(serving_run, run)
    done = _cli("explain", "--run", str(run), "--item", "1201", "--plot", str(tmp_path / "h.png"))
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.count(SEP) == 3 and path.split(SEP)[-1].startswith("#")
    assert "Mascara" in path  # item 1201 is a Maybelline mascara
    # explain is read-only: labels missing from the run are built in memory, not saved there
    assert not (run / "index" / "labels.json").exists()
    assert (tmp_path / "h.png").stat().st_size > 10_000
    bad = _cli("explain", "--run", str(run), "--item", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr
