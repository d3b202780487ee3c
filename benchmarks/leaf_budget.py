"""Choose [model] leaf_budget on validation: how many items a query's item-aware leaves score.

    python benchmarks/leaf_budget.py --run runs/beauty --data-dir ../shared/data   # ~6 min

The decoder generates the first code(s); the item head then scores the items below the beams'
prefixes. With leaf_budget = B a user's beams open best first while their items add up to at
most B (genrec.decode.beam._advance_to_leaves), so the per-query work is flat in the catalogue
(benchmarks/scaling.py). Per budget this decodes every validation user once and records the
shipped and beam-only Recall/NDCG@10, the items opened per user and the seconds. The choice:
the smallest budget whose shipped and beam-only Recall@10 both stay within `--tolerance`
(relative, default 1%) of the unbounded search. Writes benchmarks/results/leaf_budget.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import torch
from common import run_split

from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.run import load_recommender


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a trained run with generated_levels > 0")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--budgets", type=int, nargs="+", default=[0, 256, 512, 768, 1024, 1536,
                                                                2048])
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--users", type=int, default=0, help="first N validation users (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/leaf_budget.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    split = run_split(args.run, args.data_dir)
    n = args.users or len(split.valid_history)
    hists, targets = split.valid_history[:n], np.asarray(split.valid_target[:n])
    rows = [_reading(args.run, b, hists, targets) for b in sorted(set(args.budgets))]
    for row in rows:
        print(row)
    choice = _choose(rows, args.tolerance)
    write_json(args.json, {"run": args.run, "split": "valid", "users": n, "rows": rows,
                           "tolerance": args.tolerance, "chosen": choice,
                           "command": "python benchmarks/leaf_budget.py " +
                           " ".join(sys.argv[1:])})
    print("chosen leaf_budget:", choice)


def _reading(run: str, budget: int, hists: list[np.ndarray], targets: np.ndarray
             ) -> dict[str, Any]:
    """Shipped and beam-only metrics, items opened per user and seconds for one budget."""
    rec = load_recommender(run)
    rec.leaf_budget = budget
    shipped, beam_only, opened = [], [], []
    start = time.perf_counter()
    for lo in progress(range(0, len(hists), 256), desc=f"leaf_budget {budget}"):
        batch = hists[lo : lo + 256]
        mem, mem_pos = rec._encode(batch)
        state = rec._state(mem, mem_pos)
        top, cand = rec._search(mem, mem_pos, state, 10, [h.tolist() for h in batch], True)
        shipped.append(top.items.numpy())
        beam_only.append(cand.items[:, :10].numpy())
        opened.append(_opened(rec, mem, mem_pos, budget))
    secs = time.perf_counter() - start
    out: dict[str, Any] = {"leaf_budget": budget, "seconds": round(secs, 1),
                           "items_opened_per_user": round(float(np.concatenate(opened).mean()), 1)}
    for name, tops in (("shipped", shipped), ("beam_only", beam_only)):
        m = ranking_metrics(np.concatenate(tops), targets, ks=(10,))
        out[name] = {k: round(v, 5) for k, v in m.items()}
    return out


@torch.no_grad()
def _opened(rec: Any, mem: torch.Tensor, mem_pos: torch.Tensor, budget: int) -> np.ndarray:
    """Items below the beams that the budget opens, per user [B] (the first-level beams
    re-derived from the decoder's first step: the shipped models generate one level)."""
    from genrec.model.incremental import CachedStep

    c = rec.constraint
    logits = CachedStep(rec.model, mem, mem_pos)(torch.zeros(len(mem), 1, 0, dtype=torch.long), 0)
    logp = torch.log_softmax(logits[:, 0].float(), -1)  # [B, V]
    size = torch.as_tensor(np.diff(c.first_leaf[0]))  # [P] items below each first code
    tokens = torch.as_tensor(c.child_token[0]).long()  # [P] the first code of each node
    best = torch.topk(logp[:, tokens], min(rec.beam, len(tokens)), dim=1).indices  # [B, W]
    count = size[best]  # [B, W], best first
    if budget <= 0:
        return count.sum(1).numpy()
    fits = count.cumsum(1) <= budget
    fits[:, 0] = True
    return (count * fits).sum(1).numpy()


def _choose(rows: list[dict[str, Any]], tolerance: float) -> int:
    """The smallest budget within `tolerance` of the unbounded (0) search on both readings."""
    full = next(r for r in rows if r["leaf_budget"] == 0)
    ok = [r["leaf_budget"] for r in rows if r["leaf_budget"] > 0 and all(
        r[name]["recall@10"] >= (1 - tolerance) * full[name]["recall@10"]
        for name in ("shipped", "beam_only"))]
    return min(ok) if ok else 0


if __name__ == "__main__":
    main()
