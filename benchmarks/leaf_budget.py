"""Choose [model] leaf_budget and [eval] item_weight on validation.

    python benchmarks/leaf_budget.py --run runs/beauty --data-dir ../shared/data   # ~15 min

The decoder generates the first code(s); the item head then scores the items below the
prefixes. With leaf_budget = B a user's candidate prefixes open best first while their items
add up to at most B (genrec.decode.beam), so the per-query work is flat in the catalogue
(benchmarks/scaling.py), and every opened item is ranked by beam score + item_weight * head
logit. Per budget this decodes every validation user once per weight (each search also gives
the beam-only list), and records Recall/NDCG@10, the items opened per user and the
seconds. The choice: the smallest budget whose shipped NDCG@10 (at its best weight) and
beam-only Recall@10 stay within `--tolerance` (relative, default 1%) of the largest budget
tried; item_weight: the best shipped NDCG@10 at that budget. Writes
benchmarks/results/leaf_budget.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import torch
from common import add_choice_options, validation_users

from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.run import load_recommender


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a trained run with generated_levels > 0")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--budgets", type=int, nargs="+", default=[512, 1024, 1536, 2048, 3072,
                                                                4096])
    ap.add_argument("--weights", type=float, nargs="+", default=[1, 2, 4, 6, 10])
    add_choice_options(ap, "benchmarks/results/leaf_budget.json")
    args = ap.parse_args()
    hists, targets = validation_users(args)
    n = len(hists)
    rows = []
    for budget in sorted(set(args.budgets)):
        rows.append(_reading(args.run, budget, args.weights, hists, targets))
        print(rows[-1])
    budget, weight = _choose(rows, args.tolerance)
    write_json(args.json, {"run": args.run, "split": "valid", "users": n, "rows": rows,
                           "tolerance": args.tolerance,
                           "chosen": {"leaf_budget": budget, "item_weight": weight},
                           "command": "python benchmarks/leaf_budget.py " +
                           " ".join(sys.argv[1:])})
    print(f"chosen leaf_budget {budget}, item_weight {weight}")


def _reading(run: str, budget: int, weights: list[float], hists: list[np.ndarray],
             targets: np.ndarray) -> dict[str, Any]:
    """Beam-only and per-weight shipped metrics, items opened per user, seconds per search."""
    rec = load_recommender(run)
    rec.leaf_budget = budget
    tops: dict[float, list[np.ndarray]] = {w: [] for w in weights}
    beam_only, opened = [], []
    start = time.perf_counter()
    for lo in progress(range(0, len(hists), 256), desc=f"leaf_budget {budget}"):
        batch = hists[lo : lo + 256]
        mem, mem_pos = rec._encode(batch)
        state = rec._state(mem, mem_pos)
        for w, out in tops.items():
            top, cand = rec._search(mem, mem_pos, state, 10, [h.tolist() for h in batch],
                                    True, weight=w)
            out.append(top.items.numpy())
            if w == weights[0]:  # the beam's own list comes out of the same search
                beam_only.append(cand.plain().items[:, :10].numpy())
        opened.append(_opened(rec, mem, mem_pos, budget))
    secs = (time.perf_counter() - start) / len(tops)
    out: dict[str, Any] = {"leaf_budget": budget, "seconds_per_search": round(secs, 1),
                           "items_opened_per_user": round(float(np.concatenate(opened).mean()), 1)}
    for name, top in [("beam_only", beam_only),
                      *((f"item_weight={w:g}", t) for w, t in tops.items())]:
        m = ranking_metrics(np.concatenate(top), targets, ks=(10,))
        out[name] = {k: round(v, 5) for k, v in m.items()}
    return out


@torch.no_grad()
def _opened(rec: Any, mem: torch.Tensor, mem_pos: torch.Tensor, budget: int) -> np.ndarray:
    """Items below the first codes that the budget opens, per user [B] (re-derived from the
    decoder's first step: the shipped models generate one level; genrec.decode.beam opens the
    first codes best first while their items add up to <= budget, the best one always)."""
    from genrec.model.incremental import CachedStep

    c = rec.constraint
    logits = CachedStep(rec.model, mem, mem_pos)(torch.zeros(len(mem), 1, 0, dtype=torch.long), 0)
    logp = torch.log_softmax(logits[:, 0].float(), -1)  # [B, V]
    size = torch.as_tensor(np.diff(c.first_leaf[0]))  # [P] items below each first code
    tokens = torch.as_tensor(c.child_token[0]).long()  # [P] the first code of each node
    best = torch.argsort(logp[:, tokens], dim=1, descending=True)  # [B, P]
    count = size[best]  # [B, P], best first
    fits = count.cumsum(1) <= budget
    fits[:, 0] = True
    return (count * fits).sum(1).numpy()


def _choose(rows: list[dict[str, Any]], tolerance: float) -> tuple[int, float]:
    """The smallest budget within `tolerance` of the largest on shipped NDCG@10 (best weight)
    and beam-only Recall@10, and the best weight there."""
    def best(row: dict[str, Any]) -> tuple[float, float]:  # (NDCG@10, weight)
        return max((v["ndcg@10"], float(k.split("=")[1])) for k, v in row.items()
                   if k.startswith("item_weight="))

    ref = max(rows, key=lambda r: r["leaf_budget"])
    ok = [r for r in rows if best(r)[0] >= (1 - tolerance) * best(ref)[0]
          and r["beam_only"]["recall@10"] >= (1 - tolerance) * ref["beam_only"]["recall@10"]]
    pick = min(ok, key=lambda r: r["leaf_budget"])
    return pick["leaf_budget"], best(pick)[1]


if __name__ == "__main__":
    main()
