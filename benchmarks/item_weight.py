"""Choose [eval] item_weight on validation: re-rank the beam by log p_beam + w * log p_item.

    python benchmarks/item_weight.py --run runs/beauty --data-dir ../shared/data   # ~2 min

For each beam width the beam search runs once per user; every weight then re-ranks the same
candidates (genrec.model.recommender.rerank), so the grid costs one decode per width. Models
with item-aware leaves re-score every opened leaf inside the search instead, so there each
weight costs one search (leaf budget: the model's; benchmarks/leaf_budget.py chooses both).
Writes benchmarks/results/item_weight.json: valid Recall/NDCG@10 per (beam, weight).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from common import run_split

from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.model.recommender import rerank
from genrec.run import load_recommender


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a trained run (model with item_loss > 0)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--split", default="valid", choices=["valid", "test"])
    ap.add_argument("--beams", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--weights", type=float, nargs="+",
                    default=[0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5])
    ap.add_argument("--leaf-budget", type=int, default=None,
                    help="override the model's (a run trained under an older default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/item_weight.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    split = run_split(args.run, args.data_dir)
    hists = split.valid_history if args.split == "valid" else split.test_history
    targets = np.asarray(split.valid_target if args.split == "valid" else split.test_target)
    rows = []
    for beam in args.beams:
        start = time.perf_counter()
        tops = _grid(args.run, beam, hists, args.weights, args.leaf_budget)
        secs = round(time.perf_counter() - start, 1)
        for w, top in tops.items():
            m = ranking_metrics(top, targets, ks=(10,))
            rows.append({"beam": beam, "item_weight": w, "seconds": secs}
                        | {k: round(v, 5) for k, v in m.items()})
            print(rows[-1])
    write_json(args.json, {"run": args.run, "split": args.split, "rows": rows,
                           "command": "python benchmarks/item_weight.py " + " ".join(sys.argv[1:])})


def _grid(run: str, beam: int, hists: list[np.ndarray], weights: list[float],
          leaf_budget: int | None = None) -> dict[float, np.ndarray]:
    """Top-10 item rows [U, 10] per weight, from one beam search per batch of users."""
    rec = load_recommender(run, beam=beam, item_weight=0.0, leaf_budget=leaf_budget)
    out: dict[float, list[np.ndarray]] = {w: [] for w in weights}
    for lo in progress(range(0, len(hists), 256), desc=f"beam {beam}"):
        batch = hists[lo : lo + 256]
        if rec.model.cfg.generated_levels:  # leaves re-scored in the search: one per weight
            mem, mem_pos = rec._encode(batch)
            state = rec._state(mem, mem_pos)
            for w in weights:
                top, _ = rec._search(mem, mem_pos, state, 10, [h.tolist() for h in batch],
                                     True, weight=w)
                out[w].append(top.items.numpy())
            continue
        res, logp = rec.recommend_with_item_log_probs(batch, beam,
                                                      exclude=[h.tolist() for h in batch])
        for w in weights:
            cand = logp.gather(1, res.items.clamp(min=0))  # [B, beam]
            out[w].append(rerank(res, cand, w, 10).items.numpy())
    return {w: np.concatenate(v) for w, v in out.items()}


if __name__ == "__main__":
    main()
