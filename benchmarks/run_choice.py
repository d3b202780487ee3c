"""Choose between two recipes on validation: a candidate run replaces the base run when its best
validation shipped NDCG@10 is >= `--margin` times the base's (the rule written in the
candidate's experiment file before either run). Reads each run's history.json only (validation
users, every validation the training made); writes both curves and the verdict.

    python benchmarks/run_choice.py --base runs/beauty05 --candidate runs/exp/H11 \
        --margin 1.01 --rule benchmarks/experiments/H11.toml \
        --out benchmarks/results/item_loss_h11.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genrec.io import write_json  # noqa: E402

READINGS = ("ndcg@10", "recall@10", "beam_only_ndcg@10", "head_only_ndcg@10")


def curve(run: Path) -> list[dict[str, Any]]:
    """Per validation: epoch and the shipped, beam-only and head-only readings."""
    path = run / "history.json"
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {path}: not a trained run's history ({err})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SystemExit(f"error: {path}: want a list of per-epoch objects")
    return [{"epoch": r.get("epoch")} | {k: r[f"valid_{k}"] for k in READINGS if f"valid_{k}" in r}
            for r in rows if "valid_ndcg@10" in r]


def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: r["ndcg@10"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the current recipe's run")
    ap.add_argument("--candidate", required=True, type=Path, help="the challenger's run")
    ap.add_argument("--margin", type=float, required=True, help="e.g. 1.01: +1%% to replace")
    ap.add_argument("--rule", default="", help="where the rule was written before the runs")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    base, cand = curve(args.base), curve(args.candidate)
    if not base or not cand:
        raise SystemExit("error: a run has no validation readings in its history.json")
    gain = best(cand)["ndcg@10"] / best(base)["ndcg@10"]
    out = {"command": " ".join(["python", *sys.argv]), "rule": args.rule,
           "margin": args.margin, "metric": "best validation shipped NDCG@10",
           "base": {"run": str(args.base), "best": best(base), "curve": base},
           "candidate": {"run": str(args.candidate), "best": best(cand), "curve": cand},
           "ratio": round(gain, 5), "adopt": gain >= args.margin}
    write_json(args.out, out)
    print(f"candidate / base = {gain:.4f} (margin {args.margin}): "
          f"{'adopt' if out['adopt'] else 'keep the base'}")


if __name__ == "__main__":
    main()
