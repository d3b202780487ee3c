"""Cold start as in the TIGER paper: hold out 5% of Beauty's items from training, add them after
training with the frozen quantizer (genrec's add-items path), and ask whether the model
recommends them to the test users whose next item is one of them.

    python benchmarks/coldstart.py --data-dir ../shared/data          # ~25 min on 2 cores

Protocol. Held-out items H (5%, seed 0) are removed from every training sequence and from the
index: the quantizer is fitted on the other 95% and the model never sees H. Training uses each
user's history before the test item with H dropped (validation target: its last item). Then
`Catalog.add` codes H from their text (MiniLM -> frozen residual k-means -> free last-level
slot) and the trie takes them at once. Test: every user's full history before the test item,
test target = the last item, as in the main benchmark.

Lists. genrec ranks the catalogue with beam search (beam 20); at most ceil(eps * 10) of the
top-10 may be new items (the cap TIGER calls epsilon): the best-scored new items take those
slots, the rest are in-catalogue items in beam order. The content-KNN baseline keeps the same
in-catalogue items and fills the same new-item slots with the held-out items nearest (cosine of
MiniLM vectors) to the mean of the user's last 3 items. Reported: Recall/NDCG@10 on users whose
target is held out ("cold"), and in-catalogue Recall@10 on the other users before and after the
items are added. Writes benchmarks/results/coldstart.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genrec.api import make_index
from genrec.catalog import Catalog
from genrec.data import Dataset, Split, load_dataset
from genrec.embed import embed_texts, item_text
from genrec.evaluate import ranking_metrics
from genrec.io import progress, write_json
from genrec.model import GenerativeRecommender
from genrec.model.train import Trainer
from genrec.run import RunConfig, model_config, save_items


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    ds = load_dataset("amazon2014-beauty", args.data_dir)
    if args.max_users:  # a quick look; the benchmark uses every user
        ds = Dataset(ds.name, ds.item_ids, ds.user_ids[: args.max_users],
                     ds.sequences[: args.max_users], ds.items)
    held = np.random.default_rng(args.seed).random(ds.n_items) < args.holdout  # bool [N]
    run_dir = Path(args.out)
    if not (run_dir / "model.safetensors").exists():
        _train_warm(ds, held, run_dir, args)
    catalog = Catalog(run_dir, persist=False)
    before = _lists(catalog, ds, args.beam)
    added = catalog.add([{**ds.items[i], "id": ds.item_ids[i], "title": ds.title(i)}
                         for i in np.flatnonzero(held)])
    after = _lists(catalog, ds, args.beam)
    report = _report(ds, held, catalog, before, after, args)
    report |= {"n_added": len(added), "seconds": round(time.perf_counter() - start, 1),
               "command": "python benchmarks/coldstart.py " + " ".join(sys.argv[1:])}
    write_json(args.json, report)
    print({k: v for k, v in report.items() if k in ("genrec", "knn", "in_catalogue")})


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--config", default="configs/beauty.toml", help="model and training setup")
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget")
    ap.add_argument("--holdout", type=float, default=0.05, help="share of items held out")
    ap.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2],
                    help="caps on the share of new items in the top-10 (the first is headline)")
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-users", type=int, default=0, help="first N users only (smoke)")
    ap.add_argument("--out", default="runs/coldstart", help="run folder (reused if trained)")
    ap.add_argument("--json", default="benchmarks/results/coldstart.json")
    return ap.parse_args()


def _train_warm(ds: Dataset, held: np.ndarray, run_dir: Path, args: argparse.Namespace) -> None:
    """Index and train on the 95% catalogue, histories without held-out items."""
    keep = np.flatnonzero(~held)
    to_warm = np.full(ds.n_items, -1)
    to_warm[keep] = np.arange(len(keep))
    seqs = [to_warm[s[:-1]][to_warm[s[:-1]] >= 0] for s in ds.sequences]  # before the test item
    seqs = [s for s in seqs if len(s) >= 2]
    warm = Dataset(ds.name, [ds.item_ids[i] for i in keep], [str(u) for u in range(len(seqs))],
                   seqs, [ds.items[i] for i in keep])
    split = Split(train=[s[:-1] for s in seqs], valid_history=[s[:-1] for s in seqs],
                  valid_target=np.array([s[-1] for s in seqs]), test_history=[],
                  test_target=np.zeros(0, dtype=np.int64))
    run = RunConfig.from_toml(args.config)
    run = replace(run, train=replace(run.train, max_minutes=args.minutes))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", run.to_dict() | {"coldstart_holdout": args.holdout})
    save_items(warm, run_dir)
    index = make_index(warm, run.index, run_dir / "index", run.vectors)
    torch.manual_seed(run.train.seed)
    model = GenerativeRecommender(model_config(run, index, warm.n_items))
    Trainer(model, index, split, run.train, run_dir).fit()


def _lists(catalog: Catalog, ds: Dataset, beam: int) -> list[list[tuple[int, float]]]:
    """Top-`beam` (catalogue row, score) per test user, history excluded."""
    snap = catalog.snapshot
    out = []
    users = range(ds.n_users)
    for lo in progress(range(0, ds.n_users, 256), desc="recommend", total=-(-ds.n_users // 256)):
        hists = [_rows(snap, ds, ds.sequences[u][:-1]) for u in users[lo : lo + 256]]
        out += snap.recommend(hists, beam, exclude=[h.tolist() for h in hists])
    return out


def _rows(snap: Any, ds: Dataset, items: np.ndarray) -> np.ndarray:
    """Catalogue rows of dataset items, skipping items the catalogue does not list (yet)."""
    rows = [snap.row_of.get(ds.item_ids[i]) for i in items]
    return np.array([r for r in rows if r is not None], dtype=np.int64)


def _capped(ranked: list[int], is_new: np.ndarray, cap: int, k: int = 10) -> list[int]:
    """genrec's top-k in its own order, with at most `cap` new items."""
    out, n_new = [], 0
    for r in ranked:
        if is_new[r]:
            if n_new == cap:
                continue
            n_new += 1
        out.append(r)
        if len(out) == k:
            break
    return out


def _with_fill(capped: list[int], is_new: np.ndarray, fill: list[int], cap: int) -> list[int]:
    """The same list with its new-item slots given to `fill` (the baseline's picks, best
    first); when genrec used fewer than `cap` slots, the baseline's extra picks replace the
    last in-catalogue items, so the baseline always gets `cap` new items (in its favour)."""
    picks = iter(fill[:cap])
    out = [next(picks) if is_new[r] else r for r in capped]
    extra = list(picks)
    if extra:
        olds = [i for i, r in enumerate(out) if not is_new[r]]
        drop = set(olds[-len(extra):])  # the last in-catalogue items make room
        out = [r for i, r in enumerate(out) if i not in drop] + extra
    return out[:10]


def _knn_fill(ds: Dataset, held: np.ndarray, catalog: Catalog, args: argparse.Namespace
              ) -> list[list[int]]:
    """Per test user, held-out catalogue rows by cosine to the mean of the last 3 items."""
    vecs = embed_texts([item_text(r) for r in ds.items])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
    cand = np.flatnonzero(held)
    row_of = catalog.snapshot.row_of
    fills = []
    for s in ds.sequences:
        hist = s[:-1]
        q = vecs[hist[-3:]].mean(0)
        sims = vecs[cand] @ q
        sims[np.isin(cand, hist)] = -np.inf
        top = cand[np.argsort(-sims, kind="stable")[:10]]
        fills.append([row_of[ds.item_ids[i]] for i in top])
    return fills


def _report(ds: Dataset, held: np.ndarray, catalog: Catalog, before: list, after: list,
            args: argparse.Namespace) -> dict[str, Any]:
    snap = catalog.snapshot
    is_new = np.arange(len(snap.item_ids)) >= snap.n_trained
    target = np.array([snap.row_of[ds.item_ids[s[-1]]] for s in ds.sequences])
    cold = held[[s[-1] for s in ds.sequences]]
    knn = _knn_fill(ds, held, catalog, args)
    out: dict[str, Any] = {"holdout": args.holdout, "n_held_out": int(held.sum()),
                           "n_cold_users": int(cold.sum()), "n_users": ds.n_users,
                           "train_minutes": args.minutes, "beam": args.beam,
                           "genrec": {}, "knn": {}}
    warm_before = _metrics([[r for r, _ in lst] for lst in before], target, ~cold)
    for eps in args.eps:
        cap = math.ceil(eps * 10)
        ranked = [[r for r, _ in lst] for lst in after]
        gen = [_capped(r, is_new, cap) for r in ranked]
        base = [_with_fill(g, is_new, f, cap) for g, f in zip(gen, knn, strict=True)]
        key = f"eps={eps:g}"
        out["genrec"][key] = _metrics(gen, target, cold)
        out["knn"][key] = _metrics(base, target, cold)
        out.setdefault("in_catalogue", {"recall@10_without_added": warm_before["recall@10"]})
        out["in_catalogue"][f"recall@10_with_added_{key}"] = _metrics(gen, target, ~cold
                                                                     )["recall@10"]
        out["genrec"][key]["new_items_generated"] = int(sum(any(is_new[r] for r in lst)
                                                            for lst in ranked))
    head = f"eps={args.eps[0]:g}"
    out["genrec"] |= {k: out["genrec"][head][k] for k in ("recall@10", "ndcg@10")}
    out["knn"] |= {k: out["knn"][head][k] for k in ("recall@10", "ndcg@10")}
    out["in_catalogue"]["recall@10"] = out["in_catalogue"][f"recall@10_with_added_{head}"]
    return out


def _metrics(lists: list[list[int]], target: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """Recall/NDCG@10 over the chosen users; short lists are padded with -1 (misses)."""
    top = np.full((int(users.sum()), 10), -1, dtype=np.int64)
    for row, u in enumerate(np.flatnonzero(users)):
        top[row, : len(lists[u][:10])] = lists[u][:10]
    m = ranking_metrics(top, target[users], ks=(10,))
    return {k: round(v, 5) for k, v in m.items()}


if __name__ == "__main__":
    main()
