"""Search error: does beam search find what the generator itself ranks highest?

    python benchmarks/search_error.py --run runs/beauty --data-dir ../shared/data --users 1000

For a random sample of users, the run's generator (decoder levels, then item-aware leaves if
the model has them; no re-scoring) ranks items two ways: beam search of the run's width, and
an exact search over every tuple (a beam as wide as the catalogue, so no prefix is ever cut).
Both use the same scores, so any difference is search error, not model error. Records Recall
and NDCG@10 of both, the top-10 overlap, how often the exact best item is missed, and the
mean score gap of the best item found. Writes benchmarks/results/search_error.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from genrec.api import run_config
from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.run import load_recommender, load_run_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--split", default="test", choices=["valid", "test"])
    ap.add_argument("--users", type=int, default=1000, help="random users sampled")
    ap.add_argument("--batch", type=int, default=16, help="users per exact search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/search_error.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    split = load_run_dataset(run_config(args.run), args.data_dir).split()
    hists = split.valid_history if args.split == "valid" else split.test_history
    targets = np.asarray(split.valid_target if args.split == "valid" else split.test_target)
    users = np.sort(np.random.default_rng(args.seed).choice(len(hists), args.users,
                                                            replace=False))
    beam_rec = load_recommender(args.run, item_weight=0.0)
    exact_rec = load_recommender(args.run, beam=beam_rec.constraint.n_items, item_weight=0.0)
    tops: dict[str, list[np.ndarray]] = {"beam": [], "exact": []}
    best: dict[str, list[np.ndarray]] = {"beam": [], "exact": []}
    secs = {"beam": 0.0, "exact": 0.0}
    for lo in progress(range(0, len(users), args.batch), desc="search error"):
        batch = [hists[u] for u in users[lo : lo + args.batch]]
        excl = [h.tolist() for h in batch]
        for name, rec in (("beam", beam_rec), ("exact", exact_rec)):
            start = time.perf_counter()
            res = rec.recommend(batch, 10, exclude=excl)
            secs[name] += time.perf_counter() - start
            tops[name].append(res.items.numpy())
            best[name].append(res.scores[:, 0].double().numpy())
    top = {k: np.concatenate(v) for k, v in tops.items()}
    gap = np.concatenate(best["exact"]) - np.concatenate(best["beam"])  # >= 0 up to rounding
    tgt = targets[users]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top["beam"], top["exact"],
                                                                 strict=True)])
    out = {
        "run": args.run, "split": args.split, "users": int(len(users)), "seed": args.seed,
        "beam": beam_rec.beam,
        "beam_metrics": {k: round(v, 5) for k, v in ranking_metrics(top["beam"], tgt).items()},
        "exact_metrics": {k: round(v, 5) for k, v in ranking_metrics(top["exact"], tgt).items()},
        "top10_overlap": round(float(overlap), 4),
        "exact_best_missed": round(float(np.mean(top["exact"][:, 0] != top["beam"][:, 0])), 4),
        "mean_best_score_gap": round(float(gap.mean()), 5),
        "seconds": {k: round(v, 1) for k, v in secs.items()},
        "command": "python benchmarks/search_error.py " + " ".join(sys.argv[1:]),
    }
    print(out)
    write_json(args.json, out)


if __name__ == "__main__":
    main()
