"""Helpers shared by the decoding benchmarks (decode.py, scaling.py): synthetic codes, timing,
and a description of the machine."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def tiger_codes(n: int, seed: int = 0, size: int = 256) -> np.ndarray:
    """int64 [n, 4]: 3 uniform tokens in [0, size) + a 0, 1, 2, ... disambiguation token."""
    raw = np.random.default_rng(seed).integers(0, size, size=(n, 3))
    key = (raw[:, 0] * size + raw[:, 1]) * size + raw[:, 2]
    order = np.argsort(key, kind="stable")
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    disamb = np.empty(n, dtype=np.int64)
    disamb[order] = np.arange(n) - start
    return np.column_stack([raw, disamb])


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call; CPU time is what other jobs on a
    shared machine disturb least."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def hardware() -> dict[str, object]:
    """CPU model, cores, torch threads and the load average (other jobs skew wall times)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def latency_stats(seconds: list[float], users: int) -> dict[str, float]:
    """users/s (from the median) and p50 / p99 latency in ms of per-call wall times."""
    p50, p99 = np.percentile(seconds, [50, 99])
    return {
        "users_per_s": round(users / float(p50), 2),
        "p50_ms": round(1e3 * float(p50), 2),
        "p99_ms": round(1e3 * float(p99), 2),
    }


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)), 5)


def run_split(run: str | Path, data_dir: str | None):  # -> genrec.data.Split
    """The leave-one-out split of a trained run's dataset (its config.json names it)."""
    from genrec.io import read_json
    from genrec.run import RunConfig, load_run_dataset

    return load_run_dataset(RunConfig.from_dict(read_json(Path(run) / "config.json")),
                            data_dir).split()


def add_choice_options(ap: argparse.ArgumentParser, json_default: str) -> None:
    """The options every validation-choice script shares (leaf_budget.py, prefix_beam.py)."""
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--users", type=int, default=0, help="first N validation users (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=json_default)


def validation_users(args: argparse.Namespace) -> tuple[list[np.ndarray], np.ndarray]:
    """(histories, targets) of the first --users validation users of --run's dataset (all by
    default), after setting --threads."""
    torch.set_num_threads(args.threads)
    split = run_split(args.run, args.data_dir)
    n = args.users or len(split.valid_history)
    return split.valid_history[:n], np.asarray(split.valid_target[:n])
