"""Training throughput: one process vs data-parallel processes (torchrun, gloo) on CPU.

    python benchmarks/distributed_speed.py --data-dir ../shared/data [--users 4000]
        [--epochs 2] [--nproc 2]

Trains the same model on the same Beauty slice three ways: 1 process x 1 thread,
1 process x N threads, N processes x 1 thread (same global batch, so the same optimisation);
reports training targets/s (validation excluded), wall seconds of the whole command and the
CPU seconds of all its processes.
Writes benchmarks/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genrec.io import write_json

CONFIG = """
dataset = "amazon2014-beauty"
max_users = {users}
threads = {threads}
[index]
method = "random"
[model]
d_model = 128
n_heads = 4
d_ff = 512
encoder_layers = 2
decoder_layers = 2
[train]
epochs = {epochs}
batch_size = 256
warmup_steps = 20
eval_every = 100
[eval]
beam = 10
"""


def run_once(args: argparse.Namespace, work: Path, procs: int, threads: int) -> dict:
    name = f"{procs}p_x_{threads}t"
    cfg = work / f"{name}.toml"
    cfg.write_text(CONFIG.format(users=args.users, threads=threads, epochs=args.epochs))
    cmd = [sys.executable, "-m", "genrec", "train", "--config", str(cfg),
           "--out", str(work / name), "-q"]
    if procs > 1:
        cmd += ["--distributed", "--nproc-per-node", str(procs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GENREC_QUIET": "1"}
    if args.data_dir:
        env["GENREC_DATA"] = str(args.data_dir)
    start, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    last = json.loads((work / name / "history.json").read_text())[-1]
    return {"setting": name, "processes": procs, "threads_per_process": threads,
            "train_targets_per_s": last["targets_per_s"], "final_loss": last["loss"],
            "valid_ndcg@10": last["valid_ndcg@10"], "wall_seconds": round(wall, 1),
            "cpu_seconds_all_processes": round(cpu, 1)}


def _children_cpu() -> float:
    """User + system CPU seconds of every finished descendant (torchrun waits for its
    workers, so theirs count): unlike wall time, barely moved by other jobs' load."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=os.environ.get("GENREC_DATA"))
    ap.add_argument("--users", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "distributed.json")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine skews every number here
    with tempfile.TemporaryDirectory(prefix="dist_speed_") as tmp:
        rows = [run_once(args, Path(tmp), procs, threads)
                for procs, threads in ((1, 1), (1, args.nproc), (args.nproc, 1))]
    result = {"users": args.users, "epochs": args.epochs, "batch_size": 256,
              "cpus": os.cpu_count(),
              "load_average_1min": {"before": round(load_before, 2),
                                    "after": round(os.getloadavg()[0], 2)},
              "runs": rows}
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
