"""`genrec index` end to end: real item text -> MiniLM -> codes -> index.json + index.png."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genrec.semantic_ids import SemanticIndex


def _raw_folder(beauty, folder: Path, users: int = 120) -> Path:
    """Real Beauty users written back as official raw files (reviews + meta)."""
    folder.mkdir()
    used = sorted({int(i) for s in beauty.sequences[:users] for i in s})
    with gzip.open(folder / "reviews_Beauty_5.json.gz", "wt") as f:
        for u, seq in enumerate(beauty.sequences[:users]):
            for t, i in enumerate(seq):
                asin = beauty.items[i]["asin"]
                f.write(json.dumps({"reviewerID": f"U{u}", "asin": asin,
                                    "unixReviewTime": 1_000_000 + t}) + "\n")
    with gzip.open(folder / "meta_Beauty.json.gz", "wt") as f:
        for i in used:
            f.write(repr({k: v for k, v in beauty.items[i].items() if v is not None}) + "\n")
    return folder


def _index(*args: str, data_root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENREC_DATA": str(data_root), "GENREC_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "genrec.cli", "index", *args, "-q"], env=env,
                          text=True, capture_output=True, timeout=600)


@pytest.mark.parametrize("method", ["rkmeans", "hkmeans"])
def test_index_command_on_real_text(method, tmp_path, beauty, data_root):
    raw = _raw_folder(beauty, tmp_path / "raw")
    out = tmp_path / "ids"
    done = _index("--dataset", str(raw), "--method", method, "--codebook-size", "8",
                  "--k-core", "2", "--out", str(out), data_root=data_root)
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "index.json").read_text())
    for key in ("method", "n_items", "levels", "codebook_size", "collision_rate", "usage",
                "max_items_per_code", "seconds"):
        assert key in meta, key
    index = SemanticIndex.load(out)
    assert index.n_items == meta["n_items"] > 50
    assert len({tuple(r) for r in index.codes}) == index.n_items
    assert (out / "index.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(done.stdout)["method"] == method


def test_index_command_same_seed_same_bytes(tmp_path, data_root):
    outs = [tmp_path / f"r{i}" for i in range(2)]
    for out in outs:
        done = _index("--dataset", "amazon2014-beauty", "--method", "random", "--seed", "5",
                      "--out", str(out), data_root=data_root)
        assert done.returncode == 0, done.stderr
    assert (outs[0] / "codes.npy").read_bytes() == (outs[1] / "codes.npy").read_bytes()


def test_index_command_explains_bad_input(tmp_path, data_root):
    done = _index("--dataset", "amazon2014-sports", "--method", "rkmeans", "--out",
                  str(tmp_path / "x"), data_root=data_root)
    assert done.returncode == 2 and "no item text" in done.stderr
    done = _index("--dataset", "amazon2014-beauty", "--method", "hkmeans", "--balance",
                  "--out", str(tmp_path / "y"), data_root=data_root)
    assert done.returncode == 2 and "--balance" in done.stderr
    done = _index("--dataset", "nosuchset", "--out", str(tmp_path / "z"), data_root=data_root)
    assert done.returncode == 2 and "nosuchset" in done.stderr
