"""Choose [model] prefix_beam: the beams kept before the last generated level, on validation.

    python benchmarks/prefix_beam.py --run runs/beauty05 --data-dir ../shared/data   # ~10 min

Only catalogues that need two generated levels use it (at leaf_cap 512 and 256 first codes,
more than ~130k items: benchmarks/scaling.py's 1M and 10M). There the second level's decoder
step runs on every prefix the first level keeps, `beam` = 20 per user against one row for the
first level, and it is the largest cost that the 1-level path does not pay. None of our
datasets is that large, so this emulates the regime on Beauty: the run's model (its decoder
trained on all code levels, loss_levels = 4) generates 2 levels, and the leaf budget is set so
that a user opens about as many second-level prefixes as at 10M synthetic items (2048 / 153
items per second-level prefix: `--open` 13) times Beauty's mean items per second-level prefix.
Per width: validation Recall/NDCG@10 of the shipped ranking (the run's item_weight) and of the
beam alone (both from one search), the share of users whose shipped top 10 equals the widest
width's, and the seconds of the pass.
Rule (fixed before the run): the smallest width whose shipped Recall@10 and NDCG@10 and
beam-only Recall@10 all stay within `--tolerance` (relative, 1%) of the widest width tried (the
search's beam, 20). Writes benchmarks/results/prefix_beam.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from common import add_choice_options, validation_users

from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.run import load_recommender

LEVELS = 2  # generated levels in the emulated regime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a trained run whose decoder learned 2+ levels")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--widths", type=int, nargs="+", default=[20, 15, 10, 8, 5])
    ap.add_argument("--open", type=float, default=13.0,
                    help="second-level prefixes a user opens (10M synthetic: 2048 / 153)")
    add_choice_options(ap, "benchmarks/results/prefix_beam.json")
    args = ap.parse_args()
    hists, targets = validation_users(args)
    n = len(hists)
    rec = load_recommender(args.run)
    if rec.model.cfg.loss_levels < LEVELS and rec.model.cfg.decoded_levels < LEVELS:
        sys.exit(f"{args.run}: its decoder was trained on fewer than {LEVELS} levels")
    rec.model.cfg.generated_levels = LEVELS
    sizes = np.diff(rec.constraint.first_leaf[LEVELS - 1])  # items per second-level prefix
    rec.leaf_budget = max(1, round(args.open * float(sizes.mean())))
    widths = sorted(set(args.widths), reverse=True)
    rows, ref_top = [], None
    for width in widths:
        rec.prefix_beam = width
        row, top = _reading(rec, width, hists, targets)
        ref_top = top if ref_top is None else ref_top
        row["same_top10_as_widest"] = round(float((top == ref_top).all(1).mean()), 4)
        rows.append(row)
        print(row)
    chosen = _choose(rows, args.tolerance)
    write_json(args.json, {
        "run": args.run, "split": "valid", "users": n, "generated_levels": LEVELS,
        "leaf_budget": rec.leaf_budget, "items_per_prefix_mean": round(float(sizes.mean()), 3),
        "item_weight": rec.item_weight, "beam": rec.beam, "rows": rows,
        "tolerance": args.tolerance, "chosen": {"prefix_beam": chosen},
        "command": "python benchmarks/prefix_beam.py " + " ".join(sys.argv[1:])})
    print(f"chosen prefix_beam {chosen}")


def _reading(rec: Any, width: int, hists: list[np.ndarray], targets: np.ndarray
             ) -> tuple[dict[str, Any], np.ndarray]:
    """Shipped and beam-only metrics at one width, and the shipped top 10 [U, 10]."""
    shipped, beam_only = [], []
    start = time.perf_counter()
    for lo in progress(range(0, len(hists), 256), desc=f"prefix_beam {width}"):
        batch = hists[lo : lo + 256]
        mem, mem_pos = rec._encode(batch)
        top, cand = rec._search(mem, mem_pos, rec._state(mem, mem_pos), 10,
                                [h.tolist() for h in batch], True)
        shipped.append(top.items.numpy())
        beam_only.append(cand.plain().items[:, :10].numpy())
    row: dict[str, Any] = {"prefix_beam": width,
                           "seconds": round(time.perf_counter() - start, 1)}
    for name, top in [("shipped", shipped), ("beam_only", beam_only)]:
        m = ranking_metrics(np.concatenate(top), targets, ks=(10,))
        row[name] = {k: round(v, 5) for k, v in m.items()}
    return row, np.concatenate(shipped)


def _choose(rows: list[dict[str, Any]], tolerance: float) -> int:
    """The smallest width within `tolerance` of the widest on shipped Recall@10 and NDCG@10
    and beam-only Recall@10."""
    ref = max(rows, key=lambda r: r["prefix_beam"])
    keys = [("shipped", "recall@10"), ("shipped", "ndcg@10"), ("beam_only", "recall@10")]
    ok = [r for r in rows if all(r[a][b] >= (1 - tolerance) * ref[a][b] for a, b in keys)]
    return min(r["prefix_beam"] for r in ok)


if __name__ == "__main__":
    main()
