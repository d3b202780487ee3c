"""Which new item takes a single fresh slot (TIGER's eps = 0.1): genrec's pick against
content-KNN's, and signals that might improve it (TIGER-protocol validation users only).

    python benchmarks/coldstart_first_pick.py --run runs/coldstart05-beauty \
        --data-dir ../shared/data

At one slot a list's cold Recall@10 is at most the share of cold users whose first new item
is their target (hit@1 among the new items), so this is what the eps = 0.1 row can reach with
the gate always open. Read: genrec's shipped scorer (head logit of the neighbour-mean vector +
content weight x cosine with the recency-weighted query), the dataset's tuned content-KNN, how
often the two pick the same item, and the scorer with one more term each:
- `prefix`: w x log p(first code) from the decoder's first step (what generation reads);
- `predicted`: w x cosine with the text vectors of the head's own top-n trained items,
  softmax-weighted (what the model expects next, in content space);
- `max_neighbour`: the head logit of the best of the k neighbours instead of their mean;
- `learned`: all of these at once (head logits of 1-20 neighbours' mean, five query windows,
  three max-cosine windows, the two above), weighted by a listwise softmax fitted on the cold
  users themselves, read out of fold (5 folds) so that the fit cannot flatter itself.
Nothing is chosen here; the shipped scorer stays the one `select` chose.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from coldstart import _harness, held_out
from coldstart_harness import Harness, Users, query_scores

from genrec.coldstart import coldstart_from_dict, unit
from genrec.data import load_dataset
from genrec.io import read_json, write_json
from genrec.model.incremental import CachedStep
from genrec.run import RunConfig

WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/coldstart05-beauty")
    ap.add_argument("--config", default="configs/beauty.toml")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", default=None, help="default: "
                    "benchmarks/results/coldstart_first_pick-<dataset>.json")
    args = ap.parse_args()
    args.quick = False
    torch.set_num_threads(1)
    run = RunConfig.from_toml(args.config)
    short = run.dataset.removeprefix("amazon2014-")
    ds = load_dataset(run.dataset, args.data_dir)
    sel = read_json(Path(f"benchmarks/results/coldstart-{short}.json"))["selection"]
    cs = coldstart_from_dict(sel["genrec"])
    _, h, (cold, _), _ = _harness(Path(args.run), ds, held_out(ds.n_items), cs, args)
    logits = torch.cat([s @ h.table0.T for _, _, s in h.encodings(cold)]).numpy()  # [U, N]
    seen = np.stack([np.isin(h.new_rows, x) for x in cold.hists])  # [U, M]
    head = logits[:, h.near[:, : cs.neighbours]].mean(2)  # [U, M]: the neighbour-mean vector
    cos = query_scores(h.content, cold.hists, h.new_rows, cs.recent, cs.decay, "cos")
    shipped = head + cs.content_weight * cos
    k = sel["knn"]["slots"]
    knn = query_scores(h.content, cold.hists, h.new_rows, k["recent"], k["decay"], k["agg"])

    def first(score: np.ndarray) -> np.ndarray:
        return h.new_rows[np.where(seen, -np.inf, score).argmax(1)]  # [U]

    def hit1(score: np.ndarray) -> float:
        return round(float((first(score) == cold.targets).mean()), 4)

    out = {"run": args.run, "n_cold_users": len(cold), "shipped": hit1(shipped),
           "knn": hit1(knn), "content_alone": hit1(cos), "head_alone": hit1(head),
           "same_first_pick": round(float((first(shipped) == first(knn)).mean()), 4)}
    extra = {"prefix": _first_code_log_probs(h, cold),
             "predicted": _predicted_cosines(h, logits)}
    for name, term in extra.items():
        out[name] = {f"w={w:g}": hit1(shipped + w * term) for w in WEIGHTS}
    out["max_neighbour"] = {f"k={n}": hit1(logits[:, h.near[:, :n]].max(2)
                                           + cs.content_weight * cos) for n in (2, 5, 10)}
    out["learned"] = _learned(h, cold, logits, seen, extra)
    print(out, flush=True)
    out["command"] = "python benchmarks/coldstart_first_pick.py " + " ".join(sys.argv[1:])
    write_json(args.json or f"benchmarks/results/coldstart_first_pick-{short}.json", out)


def _learned(h: Harness, cold: Users, logits: np.ndarray, seen: np.ndarray,
             extra: dict[str, np.ndarray], folds: int = 5) -> dict[str, float]:
    """Out-of-fold hit@1 of a linear scorer over every signal, per L2 strength: weights fitted
    by softmax cross-entropy over each user's new items (target = the user's next item)."""
    cols = [logits[:, h.near[:, :k]].mean(2) for k in (1, 2, 5, 10, 20)]
    cols += [query_scores(h.content, cold.hists, h.new_rows, r, d, "cos")
             for r, d in ((1, 1.0), (2, 0.75), (3, 0.75), (5, 1.0), (10, 1.0))]
    cols += [query_scores(h.content, cold.hists, h.new_rows, r, 1.0, "max") for r in (2, 5, 10)]
    x = torch.from_numpy(np.stack(cols + list(extra.values()), -1)).float()  # [U, M, F]
    x = (x - x.mean((0, 1))) / x.std((0, 1))
    target = torch.from_numpy(np.searchsorted(h.new_rows, cold.targets))  # [U]
    hidden = torch.from_numpy(seen)
    part = np.array_split(np.random.default_rng(0).permutation(len(target)), folds)

    def scores(users: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (x[users] @ w).masked_fill(hidden[users], float("-inf"))

    def fit(users: torch.Tensor, l2: float) -> torch.Tensor:
        w = torch.zeros(x.shape[-1], requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=200)

        def loss() -> torch.Tensor:
            opt.zero_grad()
            value = torch.nn.functional.cross_entropy(scores(users, w), target[users])
            value = value + l2 * (w**2).sum()
            value.backward()
            return value

        opt.step(loss)
        return w.detach()

    out = {}
    for l2 in (1e-4, 1e-2, 1e-1):
        hit = 0.0
        for f, held in enumerate(part):
            train = np.concatenate([p for g, p in enumerate(part) if g != f])
            w = fit(torch.from_numpy(train), l2)
            users = torch.from_numpy(held)
            hit += float((scores(users, w).argmax(1) == target[users]).sum())
        out[f"l2={l2:g}"] = round(hit / len(target), 4)
    return out


def _first_code_log_probs(h: Harness, cold: Users) -> np.ndarray:
    """float32 [U, M]: log p(new item's first code) at the decoder's first step."""
    c1 = torch.from_numpy(h.rec.index.codes[h.new_rows, 0]).long()
    out = []
    with torch.no_grad():
        for mem, mem_pos, _ in h.encodings(cold):
            step = CachedStep(h.rec.model, mem, mem_pos)
            first = step(torch.zeros(len(mem), 1, 0, dtype=torch.long), 0)[:, 0]  # [B, V0]
            out.append(torch.log_softmax(first.float(), -1)[:, c1])
    return torch.cat(out).numpy()


def _predicted_cosines(h: Harness, logits: np.ndarray, top: int = 10) -> np.ndarray:
    """float32 [U, M]: cosine of each new item with the softmax-weighted text vectors of the
    head's top trained items (its expected next item, in content space)."""
    base = torch.from_numpy(logits[:, h.base_rows])
    val, idx = torch.topk(base, top, dim=1)
    weight = torch.softmax(val, 1).numpy()  # [U, top]
    query = np.einsum("ut,utd->ud", weight, h.content[h.base_rows][idx.numpy()])
    return unit(query) @ h.content[h.new_rows].T


if __name__ == "__main__":
    main()
