"""Choose weight averaging on validation: read runs trained with `compare_ema` (every validation
reads the trained weights and each average of one training trajectory) and apply the rule
fixed before the runs (benchmarks/experiments/H8.toml): adopt the decay whose best validation
shipped NDCG@10 beats the trained weights' best in the same run by >= `--margin` (the largest
such gain); none does: no averaging. Several runs: the rule must hold in each (`--rule each`)
or for the mean gain over them (`--rule mean`, fixed for H10), and the largest mean gain wins.
Reads history.json only (validation users); writes the choice.

    python benchmarks/ema_choice.py --run runs/exp/H8 --run runs/exp/H9 \
        --out benchmarks/results/ema.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genrec.io import write_json  # noqa: E402

KEY = re.compile(r"^valid_ema([0-9.]+)_ndcg@10$")


def best_by_decay(history: list[dict[str, Any]], shipped: float) -> dict[float, dict[str, Any]]:
    """Per decay (0 = trained weights): its best validation row's shipped NDCG@10, Recall@10,
    head-only NDCG@10 and epoch. `shipped`: the decay the run's top-level readings belong to."""
    best: dict[float, dict[str, Any]] = {}
    for row in history:
        readings = {shipped: ""} | {float(m.group(1)): f"ema{m.group(1)}_"
                                    for k in row if (m := KEY.match(k))}
        for decay, tag in readings.items():
            ndcg = row[f"valid_{tag}ndcg@10"]
            if decay not in best or ndcg > best[decay]["ndcg@10"]:
                best[decay] = {"ndcg@10": ndcg, "recall@10": row[f"valid_{tag}recall@10"],
                               "head_only_ndcg@10": row.get(f"valid_{tag}head_only_ndcg@10"),
                               "epoch": row["epoch"]}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="run folder (repeatable)")
    ap.add_argument("--margin", type=float, default=0.01, help="relative NDCG@10 gain needed")
    ap.add_argument("--rule", choices=("each", "mean"), default="each",
                    help="several runs: the margin holds in each run, or for the mean gain")
    ap.add_argument("--out", default="benchmarks/results/ema.json")
    args = ap.parse_args()
    runs: dict[str, Any] = {}
    gains: dict[str, dict[str, float]] = {}
    for folder in map(Path, args.run):
        try:
            config = json.loads((folder / "config.json").read_text())
            history = json.loads((folder / "history.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            sys.exit(f"--run {folder}: not a trained run folder ({err})")
        best = best_by_decay(history, float(config["train"].get("ema", 0.0)))
        if 0.0 not in best:
            sys.exit(f"{folder}: history.json has no reading of the trained weights "
                     "(train.compare_ema must include 0)")
        base = max(best[0.0]["ndcg@10"], 1e-12)
        gains[str(folder)] = {f"{d:g}": b["ndcg@10"] / base - 1 for d, b in best.items()}
        runs[str(folder)] = {f"{d:g}": {**b, "gain": round(gains[str(folder)][f"{d:g}"], 4)}
                             for d, b in sorted(best.items())}
    decays = set.intersection(*(set(r) for r in runs.values())) - {"0"}
    # the rule reads unrounded gains; the file shows them rounded
    mean_gain = {d: sum(g[d] for g in gains.values()) / len(gains) for d in decays}
    passing = [d for d in decays if (mean_gain[d] >= args.margin if args.rule == "mean" else
                                     all(g[d] >= args.margin for g in gains.values()))]
    chosen = max(passing, key=lambda d: mean_gain[d]) if passing else "0"
    result = {"command": "python benchmarks/ema_choice.py " + " ".join(sys.argv[1:]),
              "rule": f"adopt the decay whose best validation shipped NDCG@10 beats the trained "
                      f"weights' by >= {args.margin:.0%} "
                      + ("in every run" if args.rule == "each" else "on the mean over the runs")
                      + "; the largest mean gain",
              "runs": runs, "mean_gain": {d: round(g, 4) for d, g in sorted(mean_gain.items())},
              "chosen_ema": float(chosen)}
    write_json(Path(args.out), result)
    print(json.dumps({"chosen_ema": result["chosen_ema"], "mean_gain": result["mean_gain"]}))


if __name__ == "__main__":
    main()
