"""Data-parallel training with 2 CPU processes (torchrun, gloo) against one process.

Same config, same global batch: the per-step losses agree, the ranks train disjoint halves
of every batch, and sharded validation gives the single-process metrics for one checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TINY = """
dataset = "amazon2014-beauty"
max_users = 300
threads = 1
[index]
method = "random"
codebook_size = 16
[model]
d_model = 32
n_heads = 2
d_ff = 64
encoder_layers = 1
decoder_layers = 1
dropout = 0.0
[train]
epochs = 1
batch_size = 64
warmup_steps = 3
checkpoint_minutes = 0.0
[eval]
beam = 10
"""


def _run(args: list[str], data_root: Path, trace: Path | None = None) -> str:
    env = {**os.environ, "GENREC_DATA": str(data_root), "GENREC_QUIET": "1",
           "OMP_NUM_THREADS": "1"}
    if trace is not None:
        env["GENREC_TRACE_DIR"] = str(trace)
    done = subprocess.run([sys.executable, *args], env=env, text=True, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _steps(trace: Path, rank: int) -> list[dict]:
    return json.loads((trace / f"rank{rank}.json").read_text())["steps"]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, data_root):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    single, multi = tmp_path / "single", tmp_path / "multi"
    _run(["-m", "genrec.cli", "train", "--config", str(cfg), "--out", str(single), "-q"],
         data_root, trace=tmp_path / "t1")
    shown = _run(["-m", "genrec.cli", "train", "--config", str(cfg), "--out", str(multi), "-q",
                  "--distributed", "--nproc-per-node", "2"], data_root, trace=tmp_path / "t2")

    one = _steps(tmp_path / "t1", 0)
    ranks = [_steps(tmp_path / "t2", r) for r in (0, 1)]
    assert len(one) >= 4 and all(len(r) == len(one) for r in ranks)
    for s, a, b in zip(one, *ranks, strict=True):
        # the loss is all-reduced: both ranks report the global batch's loss
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-12)
        assert a["loss"] == pytest.approx(s["loss"], rel=1e-4), s["step"]
        mine, theirs = set(a["windows"]), set(b["windows"])
        assert mine and theirs and not mine & theirs, "ranks must see disjoint windows"
        assert mine | theirs == set(s["windows"]), "together: the single-process batch"

    # rank 0 alone reports and writes the run; its weights track the single-process ones
    assert len(shown.strip().splitlines()) == 1
    for name in ("history.json", "model.safetensors", "checkpoint/state.json", "config.json"):
        assert (multi / name).exists(), name
    from safetensors.numpy import load_file

    w1 = load_file(str(single / "checkpoint" / "model.safetensors"))
    w2 = load_file(str(multi / "checkpoint" / "model.safetensors"))
    assert max(float(np.abs(w1[k] - w2[k]).max()) for k in w1) < 1e-4

    # sharded evaluation of one checkpoint = its single-process validation metrics
    out = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "--", "genrec", "evaluate", "--run", str(single), "--split", "valid",
                "--beam", "10", "-q"], data_root)
    sharded = json.loads(out.strip().splitlines()[-1])
    history = json.loads((single / "history.json").read_text())[-1]
    for key in ("recall@5", "ndcg@5", "recall@10", "ndcg@10"):
        assert sharded[key] == history[f"valid_{key}"], key
    assert sharded["n_users"] == 300
