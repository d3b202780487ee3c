"""Where generated new items land in the beam's own top 20 (TIGER-protocol validation users).

    python benchmarks/coldstart_positions.py --run runs/coldstart05-beauty --data-dir ../shared/data

The probe behind release 0.7's calibration (docs/benchmarks.md, "Seventh to ninth readings"):
with new items out of their prefix's normaliser and no calibration (scale 1, offset 0), per
bias: how many warm users get a new item at each rank, and at which ranks the cold users' hits
sit. Validation users only (8,000 warm, sampled as `select` does); nothing is chosen here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from coldstart import _harness, held_out
from coldstart_harness import metrics

from genrec.coldstart import ColdStart
from genrec.data import load_dataset
from genrec.io import write_json
from genrec.run import RunConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/coldstart05-beauty")
    ap.add_argument("--config", default="configs/beauty.toml")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--biases", type=float, nargs="+", default=[2.0, 3.0])
    ap.add_argument("--json", default="benchmarks/results/coldstart_positions.json")
    args = ap.parse_args()
    args.quick = False
    torch.set_num_threads(1)
    ds = load_dataset(RunConfig.from_toml(args.config).dataset, args.data_dir)
    # Beauty's 0.7 scorer, uncalibrated, expand 2 (as while the calibration was searched)
    cs = ColdStart(expand=2, apart=1, scale=1.0, offset=0.0)
    _, h, (cold, warm_all), _ = _harness(Path(args.run), ds, held_out(ds.n_items), cs, args)
    h.set_neighbours(cs.neighbours)
    warm = warm_all.take(8000, 0)
    out = {"run": args.run, "coldstart": str(cs), "n_cold_users": len(cold),
           "n_warm_users": len(warm), "by_bias": []}
    for bias in args.biases:
        t = replace(cs, bias=bias)
        w, c = h.lists(warm, t)["beam"], h.lists(cold, t)["beam"]
        new_w = h.is_new[np.maximum(w, 0)] & (w >= 0)  # [U, 20]
        first = np.where(new_w.any(1), new_w.argmax(1), -1)
        hit = c == cold.targets[:, None]
        out["by_bias"].append({
            "bias": bias,
            "warm_new_in_top10_per_user": round(float(new_w[:, :10].sum(1).mean()), 4),
            "warm_new_in_11_20_per_user": round(float(new_w[:, 10:].sum(1).mean()), 4),
            "warm_share_new_first": round(float((first == 0).mean()), 4),
            "warm_first_new_rank_counts": np.bincount(first[first >= 0], minlength=20).tolist(),
            "cold_hit_rank_counts": np.bincount(hit.argmax(1)[hit.any(1)], minlength=20).tolist(),
            "cold_beam_only_recall@20": metrics(c, cold, 20)["recall@20"]})
        print(out["by_bias"][-1], flush=True)
    out["command"] = "python benchmarks/coldstart_positions.py " + " ".join(sys.argv[1:])
    write_json(args.json, out)


if __name__ == "__main__":
    main()
