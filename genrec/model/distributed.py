"""torch.distributed plumbing: one process per CPU slot or GPU, launched by torchrun.

torchrun (`python -m torch.distributed.run`) sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous address; `init_from_env` joins the process group (gloo on CPU, NCCL on CUDA).
Without those variables everything here is a no-op, so the single-process path is unchanged.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from genrec.errors import GenrecError
from genrec.evaluate.metrics import (
    ReadingsFn,
    RecommendFn,
    evaluate_readings,
    readings_metrics,
)
from genrec.io import progress


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where this rank trains: "cpu" or "cuda:<local_rank>"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise GenrecError(f"environment variable {name}={raw!r} is not an integer") from None


def init_from_env(backend: str | None = None) -> DistEnv:
    """Join the process group torchrun described in the environment (once per process).

    backend: gloo | nccl; default NCCL when CUDA is available, else gloo. The timeout is long
    (GENREC_DIST_TIMEOUT_MIN, default 60) because rank 0 alone builds the index first.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistEnv()
    if dist.is_initialized():
        return current()
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("gloo", "nccl"):
        raise GenrecError(f"unknown distributed backend {backend!r} (gloo or nccl)")
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise GenrecError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs: "
                              "use --nproc_per_node <= the number of GPUs")
        torch.cuda.set_device(local)
    minutes = _env_int("GENREC_DIST_TIMEOUT_MIN", 60)
    dist.init_process_group(backend, rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=minutes))
    return current()


def current() -> DistEnv:
    """The process group this process belongs to, or a single-process DistEnv."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistEnv()
    local = _env_int("LOCAL_RANK", 0)
    device = f"cuda:{local}" if dist.get_backend() == "nccl" else "cpu"
    return DistEnv(dist.get_rank(), dist.get_world_size(), local, device)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def all_reduce_sum(values: Sequence[float], env: DistEnv) -> list[float]:
    """Element-wise sum over ranks (float64, so clocks and losses keep their precision)."""
    t = torch.tensor(list(values), dtype=torch.float64, device=env.device)
    if env.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast_clock(env: DistEnv) -> float:
    """Rank 0's time.perf_counter() on every rank: all ranks must take the same time-based
    decisions (LR by time budget, checkpoint times, stopping), or they fall out of step."""
    now = time.perf_counter()
    if not env.enabled:
        return now
    return all_reduce_sum([now if env.is_main else 0.0], env)[0]


def all_gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    if not env.enabled:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def evaluate_sharded(recommend: RecommendFn, histories: list[np.ndarray], targets: np.ndarray,
                     env: DistEnv, k: int = 10, batch_size: int = 256, desc: str = "evaluate"
                     ) -> tuple[dict[str, Any], np.ndarray]:
    """genrec.evaluate.evaluate with the user batches dealt round-robin to the ranks.

    The batches are exactly those of the single-process run (same users, same padding), so
    the gathered top-k lists, and the metrics every rank computes from them, are identical.
    """
    metrics, parts = evaluate_readings_sharded(
        lambda h, u, kk: {"shipped": recommend(h, u, kk)}, histories, targets, env, k,
        batch_size, desc)
    return metrics, parts["shipped"]


def evaluate_readings_sharded(readings: ReadingsFn, histories: list[np.ndarray],
                              targets: np.ndarray, env: DistEnv, k: int = 10,
                              batch_size: int = 256, desc: str = "evaluate"
                              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """genrec.evaluate.evaluate_readings with the user batches dealt round-robin to ranks."""
    if not env.enabled:
        return evaluate_readings(readings, histories, targets, k, batch_size, desc)
    start = time.perf_counter()
    starts = list(range(0, len(histories), batch_size))
    mine = {}
    for lo in progress(starts[env.rank :: env.world_size], desc=desc):
        users = np.arange(lo, min(lo + batch_size, len(histories)))
        mine[lo] = readings([histories[u] for u in users], users, k)
    got: dict[int, dict[str, np.ndarray]] = {}
    for part in all_gather_objects(mine, env):
        got.update(part)
    parts = {name: np.concatenate([got[lo][name] for lo in starts]) for name in got[0]}
    metrics = readings_metrics(parts, np.asarray(targets))
    metrics["n_users"] = len(histories)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    return metrics, parts


def launch_local(nproc: int, argv: Sequence[str]) -> int:
    """Re-run this command under torchrun with `nproc` processes on this machine; returns
    the exit code. Workers see WORLD_SIZE and so do not launch again."""
    if nproc < 1:
        raise GenrecError(f"--nproc-per-node must be >= 1, got {nproc}")
    # "--": torchrun's own parser would otherwise claim abbreviations (`--run` = --run-path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "--", "genrec", *argv]
    return subprocess.call(cmd)


def default_nproc() -> int:
    """One process per GPU, else 2 CPU processes."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 2
