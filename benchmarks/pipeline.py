"""Time one whole `genrec run` (index + train + evaluate) and record its test metrics.

    python benchmarks/pipeline.py --config configs/beauty.toml --data-dir ../shared/data

Writes benchmarks/results/<config name>.json: metrics, validation curve, wall time, hardware,
and the command. Uses a fresh run folder and a cold embedding cache unless told otherwise, so
the wall time is what a new user waits.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from genrec.io import read_json, write_json
from genrec.run import RunConfig, run_pipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="run folder (default runs/<config name>)")
    ap.add_argument("--warm-cache", action="store_true", help="reuse cached embeddings")
    ap.add_argument("--results", default=None,
                    help="result file (default benchmarks/results/<config name>.json)")
    args = ap.parse_args()
    name = Path(args.config).stem
    out = Path(args.out or f"runs/{name}")
    shutil.rmtree(out, ignore_errors=True)
    cold = None if args.warm_cache else tempfile.mkdtemp(prefix="genrec-cold-")
    if cold:
        os.environ["GENREC_CACHE"] = cold
    start = time.perf_counter()
    metrics = run_pipeline(RunConfig.from_toml(args.config), args.data_dir, out, resume=False)
    wall = time.perf_counter() - start
    if cold:
        shutil.rmtree(cold, ignore_errors=True)
    write_json(Path(args.results or f"benchmarks/results/{name}.json"), {
        "config": args.config,
        "command": "python " + " ".join(sys.argv),
        "wall_minutes": round(wall / 60, 1),
        "cold_embedding_cache": cold is not None,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU only",
        "test": metrics,
        # the same model read without re-scoring and by its head alone (issue 12's readings)
        **{k: metrics[k] for k in ("beam_only", "head_only", "head_in_candidates")
           if k in metrics},
        "valid_curve": read_json(out / "history.json"),
    })
    print(metrics)


if __name__ == "__main__":
    main()
