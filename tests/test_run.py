"""The pipeline through the CLI on a real slice: run, evaluate, recommend, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genrec.model.checkpoint import checkpoint_state

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
[train]
epochs = {epochs}
batch_size = 32
warmup_steps = 10
checkpoint_minutes = 0.0
eval_every = 10
[eval]
beam = 10
"""


def _cli(*args: str, data_root: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENREC_DATA": str(data_root), "GENREC_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "genrec.cli", *args], env=env, text=True,
                          capture_output=True, check=check, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    folder = tmp_path_factory.mktemp("run")
    cfg = folder / "tiny.toml"
    cfg.write_text(TINY.format(epochs=3))
    out = folder / "run"
    done = _cli("run", "--config", str(cfg), "--out", str(out), "-q", data_root=data_root)
    return cfg, out, done


def test_run_writes_metrics_and_artifacts(tiny_run):
    _, out, done = tiny_run
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "invalid_rate", "n_users", "beam",
                "exclude_history", "seconds"):
        assert key in metrics, key
    assert metrics["n_users"] == 300 and metrics["invalid_rate"] == 0.0
    assert 0.0 <= metrics["ndcg@10"] <= metrics["recall@10"] <= 1.0
    for name in ("config.json", "model.safetensors", "model.json", "history.json", "curve.png",
                 "items.json", "index/index.json", "checkpoint/state.json"):
        assert (out / name).exists(), name
    assert "actually bought next" in done.stdout


def test_recommend_prints_titles_and_rejects_unknown_ids(tiny_run, data_root):
    _, out, _ = tiny_run
    shown = _cli("recommend", "--run", str(out), "--history", "1,2,3", "-k", "5",
                 data_root=data_root)
    lines = shown.stdout.strip().splitlines()
    # a header, five ranked items, and a note on what the score is
    assert len(lines) == 7 and lines[0].split()[:3] == ["rank", "id", "score"]
    assert [line.split()[0] for line in lines[1:6]] == ["1", "2", "3", "4", "5"]
    assert lines[-1].startswith("score: ")
    bad = _cli("recommend", "--run", str(out), "--history", "1,nope", data_root=data_root,
               check=False)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_unconstrained_evaluation_reports_invalid_rate(tiny_run, data_root):
    _, out, _ = tiny_run
    done = _cli("evaluate", "--run", str(out), "--no-constrained", "--split", "valid",
                data_root=data_root)
    metrics = json.loads(done.stdout)
    assert 0.0 <= metrics["invalid_rate"] <= 1.0 and metrics["constrained"] is False


def test_killed_training_resumes_to_the_same_weights(tmp_path, data_root):
    """SIGKILL mid-run, then --resume: the final weights equal an uninterrupted run's."""
    cfg = tmp_path / "tiny.toml"  # with a weight average: it must resume exactly too
    cfg.write_text(TINY.format(epochs=2).replace("eval_every = 10", "eval_every = 10\nema = 0.9"))
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    _cli("train", "--config", str(cfg), "--out", str(straight), "-q", data_root=data_root)
    env = {**os.environ, "GENREC_DATA": str(data_root), "GENREC_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "genrec.cli", "train", "--config", str(cfg),
                             "--out", str(broken), "-q"], env=env)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        state = checkpoint_state(broken / "checkpoint")
        if state is not None and state["step"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)  # may land mid-checkpoint: resume must still be exact
    proc.wait()
    killed_at = checkpoint_state(broken / "checkpoint")["step"]
    assert 3 <= killed_at < checkpoint_state(straight / "checkpoint")["step"]
    _cli("train", "--config", str(cfg), "--out", str(broken), "--resume", "-q",
         data_root=data_root)
    for weights in ("model.safetensors", "ema0.9.safetensors"):
        a = load_file(str(straight / "checkpoint" / weights))
        b = load_file(str(broken / "checkpoint" / weights))
        assert a.keys() == b.keys()
        for name in a:
            assert (a[name] == b[name]).all(), (weights, name)


def test_the_shipped_weights_are_the_average_updated_every_step(tmp_path, data_root):
    """With ema set, validation reads and model.safetensors holds the averaged weights, not
    the trained ones; the average took every optimizer step; compare_ema rows are recorded."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.format(epochs=2).replace(
        "eval_every = 10", "eval_every = 10\nema = 0.9\ncompare_ema = [0.0]"))
    out = tmp_path / "run"
    _cli("train", "--config", str(cfg), "--out", str(out), "-q", data_root=data_root)
    state = checkpoint_state(out / "checkpoint")
    average = load_file(str(out / "checkpoint" / "ema0.9.safetensors"))
    trained = load_file(str(out / "checkpoint" / "model.safetensors"))
    shipped = load_file(str(out / "model.safetensors"))
    assert int(average["n_averaged"]) == state["step"] > 0
    assert shipped.keys() == trained.keys()
    for name in shipped:
        assert torch.equal(shipped[name], average[f"module.{name}"]), name
    assert any(not torch.equal(shipped[n], trained[n]) for n in shipped)
    (row,) = json.loads((out / "history.json").read_text())
    assert 0 <= row["valid_ema0_ndcg@10"] <= row["valid_ema0_recall@10"] <= 1


def test_bad_config_names_the_key(tmp_path, data_root):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('dataset = "amazon2014-beauty"\n[train]\nepochz = 3\n')
    done = _cli("train", "--config", str(cfg), "--out", str(tmp_path / "r"), data_root=data_root,
                check=False)
    assert done.returncode == 2 and "epochz" in done.stderr


def test_evaluate_cli_can_write_another_file(tiny_run, data_root):
    _, out, _ = tiny_run
    before = (out / "metrics.json").read_text()
    done = _cli("evaluate", "--run", str(out), "--item-weight", "0", "--metrics-file",
                "metrics_w0.json", data_root=data_root)
    assert (out / "metrics.json").read_text() == before
    assert json.loads((out / "metrics_w0.json").read_text()) == json.loads(done.stdout)


def test_evaluating_into_another_file_keeps_the_runs_metrics(tiny_run, data_root):
    """Scoring a run another way (here: beam 5) must not overwrite its headline metrics.json."""
    from genrec.run import RunConfig, evaluate_run, load_run_dataset

    _, out, _ = tiny_run
    before = (out / "metrics.json").read_text()
    run = RunConfig.from_dict(json.loads((out / "config.json").read_text()))
    got = evaluate_run(out, load_run_dataset(run, data_root).split(), replace(run.eval, beam=5),
                       metrics_file="metrics_beam5.json")
    assert (out / "metrics.json").read_text() == before
    assert json.loads((out / "metrics_beam5.json").read_text()) == got
    assert got["beam"] == 5 and got["n_users"] == 300
