"""Which head vector should a new item get? A validation-only probe on a trained run.

    python benchmarks/coldstart_vectors.py --run runs/beauty05 --data-dir ../shared/data   # ~3 min

A new item's head vector decides how the item head (and so the leaves, the re-scoring and the
fresh slots) scores it. genrec gives it the mean of its `neighbours` content-nearest trained
items' vectors; the cold-start notes in docs/benchmarks.md find that such a vector "scores like
its neighbours for every user". This probe asks whether a vector predicted from the item's
own text does better, without training a cold-start model: the run's items are split in 10
folds; each fold in turn plays the new items, and its vectors are predicted from the other
folds only:
  neighbour_mean  the mean full vector of the 20 content-nearest items of the other folds;
  ridge           a ridge regression from the text vector to the full vector, fitted on the
                  other folds (alpha per row);
  codes_only      the item's code embeddings alone (no learned per-item part);
  own             the item's trained vector (the ceiling).
For every validation user whose target falls in the fold, the target's predicted vector is
scored by the user's head query against (a) every other item's trained vector (its rank in
the full catalogue: Recall@10/20 as if it competed with the warm items) and (b) the fold's
other items, all with predicted vectors (Recall@20 among the new items, as content-KNN's
row in the cold-start table ranks). It is a probe: the other items' vectors were trained
with the target present, so the numbers read higher than a real hold-out would; they compare
the predictors with each other.

With --tiger-run (a `benchmarks/coldstart.py train` run: 5% of the items never seen) it also
reads what the cold-start harness reads on validation users, for two of those vectors given to
the held-out items: the neighbour mean (shipped) and the codes alone, each with the shipped
generation settings (genrec.coldstart defaults) and the generation bonus `bias` swept:
generation alone (the beam's own top 20) and the generation list's Recall@10 on the users
whose target is held out, and the beam's in-catalogue change on 8,000 warm users.
Writes benchmarks/results/coldstart_vectors.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import run_split
from sklearn.linear_model import Ridge

from genrec.coldstart import load_content, neighbour_rows
from genrec.io import write_json
from genrec.run import load_recommender


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--neighbours", type=int, default=20)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiger-run", default=None, help="a coldstart.py train run (optional)")
    ap.add_argument("--config", default="configs/beauty.toml", help="--tiger-run's recipe")
    ap.add_argument("--json", default="benchmarks/results/coldstart_vectors.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rec = load_recommender(args.run)
    split = run_split(args.run, args.data_dir)
    n_items = len(rec.index.codes)
    content = load_content(Path(args.run) / "index", n_items)
    if content is None:
        sys.exit(f"{args.run}/index holds no content vectors")
    codes = torch.from_numpy(rec.index.codes)
    with torch.no_grad():
        own = rec.model.item_table(codes)  # [N, d] item order
        code_only = rec.model.code_vectors(codes)  # [N, d]
        states = _states(rec, split.valid_history)  # [U, d]
    targets = torch.as_tensor(np.asarray(split.valid_target))
    fold = np.random.default_rng(0).integers(0, args.folds, n_items)  # item -> its fold
    names = ["own", "codes_only", "neighbour_mean", *(f"ridge_alpha={a:g}" for a in args.alphas)]
    ranks: dict[str, dict[str, list[np.ndarray]]] = {n: {"all": [], "new": []} for n in names}
    for f in range(args.folds):
        new = np.flatnonzero(fold == f)
        rest = np.flatnonzero(fold != f)
        guess = {"own": own[new], "codes_only": code_only[new],
                 "neighbour_mean": own[rest][torch.from_numpy(
                     neighbour_rows(content[new], content[rest], args.neighbours))].mean(1)}
        for a in args.alphas:
            fit = Ridge(alpha=a).fit(content[rest], own[rest].numpy())
            guess[f"ridge_alpha={a:g}"] = torch.from_numpy(fit.predict(content[new])).float()
        users = torch.from_numpy(np.flatnonzero(np.isin(targets.numpy(), new)))
        col = torch.from_numpy(np.searchsorted(new, targets[users].numpy()))  # target's slot
        warm = states[users] @ own.T  # [u, N] every item's trained logit
        for name, vec in guess.items():
            ranks[name]["all"].append(_rank_all(warm, states[users], vec, col, targets[users]))
            ranks[name]["new"].append(_rank(states[users] @ vec.T, col))
    rows = {n: _metrics(r) for n, r in ranks.items()}
    for n, r in rows.items():
        print(f"{n:>18}: {r}")
    out = {"run": args.run, "split": "valid", "folds": args.folds,
           "neighbours": args.neighbours, "users": len(targets), "rows": rows,
           "command": "python benchmarks/coldstart_vectors.py " + " ".join(sys.argv[1:])}
    if args.tiger_run:
        out["tiger_protocol"] = _tiger(args)
        print(out["tiger_protocol"])
    write_json(args.json, out)


def _tiger(args: argparse.Namespace) -> dict[str, Any]:
    """Generation alone on the TIGER-protocol run's validation users, per new-item vector."""
    from coldstart import _catalog, _users, held_out
    from coldstart_harness import Harness, metrics

    from genrec.coldstart import ColdStart
    from genrec.data import load_dataset
    from genrec.run import RunConfig

    ds = load_dataset(RunConfig.from_toml(args.config).dataset, args.data_dir)
    held = held_out(ds.n_items)  # coldstart.py's defaults: 5%, seed 0
    cs = ColdStart()
    cat, is_new = _catalog(Path(args.tiger_run), ds, held, cs)
    h = Harness(cat.snapshot.rec, cat.snapshot.content, is_new)
    cold, warm_all = _users(ds, cat, held, 1)
    warm = warm_all.take(8000, 0)
    base = metrics(h.lists(warm, None)["beam"], warm)["recall@10"]
    with torch.no_grad():
        codes_only = h.rec.model.code_vectors(h.rec.codes[h.rows_t])
    out: dict[str, Any] = {"run": args.tiger_run, "n_cold_users": len(cold),
                           "n_warm_users": len(warm), "coldstart": str(cs)}
    vectors = {"neighbour_mean": h.table0[h.rows_t], "codes_only": codes_only}
    for name, biases in (("neighbour_mean", (0.0, 1.0, 2.0, 3.0, 4.0)),
                         ("codes_only", (-2.0, -1.0, 0.0, 1.0, 2.0))):
        h.rec.set_item_vectors(h.rows_t, vectors[name])
        out[name] = []
        for bias in biases:  # the generation bonus (genrec.coldstart), shipped: 2
            trial = replace(cs, bias=bias)
            cold_lists, warm_beam = h.lists(cold, trial), h.lists(warm, trial)["beam"]
            out[name].append({
                "bias": bias,
                "beam_only_recall@20_cold": metrics(cold_lists["beam"], cold, 20)["recall@20"],
                "generation_recall@10_cold": metrics(cold_lists["shipped"], cold)["recall@10"],
                "beam_only_in_catalogue_change": round(
                    metrics(warm_beam, warm)["recall@10"] / base - 1, 4)})
            print(name, out[name][-1], flush=True)
    return out


@torch.no_grad()
def _states(rec: Any, histories: list[np.ndarray]) -> torch.Tensor:
    """The head query [U, d] of every history, in batches of 512."""
    out = []
    for lo in range(0, len(histories), 512):
        mem, mem_pos = rec._encode(histories[lo : lo + 512])
        out.append(rec._state(mem, mem_pos))
    return torch.cat(out)


def _rank(logits: torch.Tensor, col: torch.Tensor) -> np.ndarray:
    """0-based rank of column col[u] in each row of logits [u, M] (ties count against it)."""
    mine = logits.gather(1, col[:, None])
    return ((logits >= mine).sum(1) - 1).numpy()


def _rank_all(warm: torch.Tensor, state: torch.Tensor, vec: torch.Tensor, col: torch.Tensor,
              target: torch.Tensor) -> np.ndarray:
    """Rank of the target in the full catalogue with its vector replaced by its guess."""
    mine = (state * vec[col]).sum(1, keepdim=True)  # [u, 1]
    above = (warm >= mine).sum(1) - (warm.gather(1, target[:, None]) >= mine)[:, 0].long()
    return above.numpy()


def _metrics(ranks: dict[str, list[np.ndarray]]) -> dict[str, float]:
    every, among_new = np.concatenate(ranks["all"]), np.concatenate(ranks["new"])
    return {"recall@10": round(float((every < 10).mean()), 5),
            "recall@20": round(float((every < 20).mean()), 5),
            "recall@20_among_new": round(float((among_new < 20).mean()), 5),
            "median_rank": int(np.median(every))}


if __name__ == "__main__":
    main()
