"""Cold start as in the TIGER paper: hold out 5% of Beauty's items from training, add them after
training with the frozen quantizer (genrec's add-items path), and ask whether the model
recommends them to the test users whose next item is one of them.

    python benchmarks/coldstart.py --data-dir ../shared/data   # ~18 min on 2 cores

Protocol. Held-out items H (5%, seed 0) are removed from every training sequence and from the
index: the quantizer is fitted on the other 95% and the model never sees H. Training uses each
user's history before the test item with H dropped (validation target: its last item). Then
`Catalog.add` codes H from their text (MiniLM -> frozen residual k-means -> free last-level
slot) and the trie takes them at once. Test: every user's full history before the test item,
test target = the last item, as in the main benchmark.

Lists. Up to ceil(eps * 10) of the top-10 (the cap TIGER calls epsilon) are "fresh" slots for
added items, ranked by genrec.coldstart (the item head, with new items read as the mean of
their content neighbours, mixed with recency-weighted content similarity); a pick takes its
slot only within coldstart.FRESH_MARGIN of the trained item it displaces. The other slots
hold the beam's trained items (beam 20, re-ranked as the run's [eval] says). The content-KNN
baseline keeps the same trained items and always gets ceil(eps * 10) slots (in its favour),
filled with the held-out items nearest (cosine of MiniLM vectors) to the mean of the user's
last 3 items; "genrec head only" is the ablation without the content term. Reported:
Recall/NDCG@10 on users whose target is held out ("cold"), on test and on validation (users
whose second-to-last item is held out: the split genrec.coldstart's constants were chosen on),
and in-catalogue Recall@10 on the other test users before and after the items are added.
Writes benchmarks/results/coldstart.json.
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

from genrec import coldstart
from genrec.api import make_index
from genrec.catalog import Catalog
from genrec.coldstart import save_content
from genrec.data import Dataset, Split, load_dataset
from genrec.embed import embed_texts, item_text
from genrec.evaluate import ranking_metrics
from genrec.io import progress, read_json, write_json
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
    _refresh_run(run_dir, ds, held, args)
    catalog = Catalog(run_dir, persist=False, beam=args.beam)
    warm = [u for u, s in enumerate(ds.sequences) if not held[s[-1]]]
    before = _lists(catalog, ds, warm, 0, 0)
    added = catalog.add([{**ds.items[i], "id": ds.item_ids[i], "title": ds.title(i)}
                         for i in np.flatnonzero(held)])
    report = _report(ds, held, catalog, before, args)
    report |= {"n_added": len(added), "seconds": round(time.perf_counter() - start, 1),
               "command": "python benchmarks/coldstart.py " + " ".join(sys.argv[1:])}
    write_json(args.json, report)
    print({k: v for k, v in report.items()
           if k in ("genrec", "knn", "genrec_head_only", "in_catalogue")})


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--config", default="configs/beauty.toml", help="model and training setup")
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget")
    ap.add_argument("--holdout", type=float, default=0.05, help="share of items held out")
    ap.add_argument("--eps", type=float, nargs="+", default=[0.2, 0.1],
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


def _refresh_run(run_dir: Path, ds: Dataset, held: np.ndarray, args: argparse.Namespace
                 ) -> None:
    """A run trained before these existed: its eval settings from --config, and the content
    vectors of its trained items beside the index."""
    cfg = read_json(run_dir / "config.json")
    write_json(run_dir / "config.json", cfg | {"eval": RunConfig.from_toml(args.config
                                                                          ).to_dict()["eval"]})
    if not (run_dir / "index" / "content.npy").exists():
        keep = np.flatnonzero(~held)
        save_content(run_dir / "index", embed_texts([item_text(ds.items[i]) for i in keep]))


def _lists(catalog: Catalog, ds: Dataset, users: list[int], fresh: int, back: int
           ) -> list[list[int]]:
    """Top-10 catalogue rows per user from their history before item -1 - back (excluded)."""
    snap = catalog.snapshot
    out = []
    for lo in progress(range(0, len(users), 256), desc="recommend", total=-(-len(users) // 256)):
        hists = [_rows(snap, ds, ds.sequences[u][: -1 - back]) for u in users[lo : lo + 256]]
        lists = snap.recommend(hists, 10, exclude=[h.tolist() for h in hists], fresh=fresh)
        out += [[r for r, _ in lst] for lst in lists]
    return out


def _rows(snap: Any, ds: Dataset, items: np.ndarray) -> np.ndarray:
    """Catalogue rows of dataset items, skipping items the catalogue does not list (yet)."""
    rows = [snap.row_of.get(ds.item_ids[i]) for i in items]
    return np.array([r for r in rows if r is not None], dtype=np.int64)


def _with_fill(lst: list[int], is_new: np.ndarray, fill: list[int], cap: int) -> list[int]:
    """The same list with its fresh slots given to `fill` (the baseline's picks, best first);
    where genrec used fewer than `cap` slots, the baseline's extra picks replace the last
    in-catalogue items, so the baseline always gets `cap` new items (in its favour)."""
    picks = iter(fill[:cap])
    out = [next(picks) if is_new[r] else r for r in lst]
    extra = list(picks)
    if extra:
        olds = [i for i, r in enumerate(out) if not is_new[r]]
        drop = set(olds[-len(extra):])  # the last in-catalogue items make room
        out = [r for i, r in enumerate(out) if i not in drop] + extra
    return out[:10]


def _knn_fill(ds: Dataset, held: np.ndarray, catalog: Catalog, users: list[int], back: int
              ) -> list[list[int]]:
    """Per user, held-out catalogue rows by cosine to the mean of the last 3 history items."""
    vecs = embed_texts([item_text(r) for r in ds.items])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
    cand = np.flatnonzero(held)
    row_of = catalog.snapshot.row_of
    fills = []
    for u in users:
        hist = ds.sequences[u][: -1 - back]
        sims = vecs[cand] @ vecs[hist[-3:]].mean(0)
        sims[np.isin(cand, hist)] = -np.inf
        top = cand[np.argsort(-sims, kind="stable")[:10]]
        fills.append([row_of[ds.item_ids[i]] for i in top])
    return fills


def _report(ds: Dataset, held: np.ndarray, catalog: Catalog, before: list,
            args: argparse.Namespace) -> dict[str, Any]:
    snap = catalog.snapshot
    is_new = np.arange(len(snap.item_ids)) >= snap.n_trained
    out: dict[str, Any] = {"holdout": args.holdout, "n_held_out": int(held.sum()),
                           "n_users": ds.n_users, "train_minutes": args.minutes,
                           "beam": args.beam, "head_share": coldstart.HEAD_SHARE,
                           "neighbours": coldstart.NEIGHBOURS,
                           "fresh_margin": coldstart.FRESH_MARGIN, "genrec": {}, "knn": {},
                           "genrec_head_only": {}, "valid": {}}
    warm = [u for u, s in enumerate(ds.sequences) if not held[s[-1]]]
    out["in_catalogue"] = {"recall@10_without_added": _metrics(before, ds, snap, warm, 0)}
    for back, block in ((0, out), (1, out["valid"])):
        cold = [u for u, s in enumerate(ds.sequences) if len(s) > 2 + back and held[s[-1 - back]]]
        block["n_cold_users"] = len(cold)
        knn = _knn_fill(ds, held, catalog, cold, back)
        for eps in args.eps:
            key, cap = f"eps={eps:g}", math.ceil(eps * 10)
            gen = _lists(catalog, ds, cold, cap, back)
            base = [_with_fill(g, is_new, f, cap) for g, f in zip(gen, knn, strict=True)]
            block.setdefault("genrec", {})[key] = _metrics(gen, ds, snap, cold, back) | {
                "users_shown_new_items": _share_with_new(gen, is_new)}
            block.setdefault("knn", {})[key] = _metrics(base, ds, snap, cold, back)
            share, coldstart.HEAD_SHARE = coldstart.HEAD_SHARE, 1.0  # ablation: no content term
            head = _lists(catalog, ds, cold, cap, back)
            coldstart.HEAD_SHARE = share
            block.setdefault("genrec_head_only", {})[key] = _metrics(head, ds, snap, cold, back)
            if back == 0:
                after = _lists(catalog, ds, warm, cap, 0)
                out["in_catalogue"][f"recall@10_with_added_{key}"] = _metrics(
                    after, ds, snap, warm, 0)
                out["in_catalogue"][f"users_shown_new_items_{key}"] = _share_with_new(after,
                                                                                      is_new)
    head = f"eps={args.eps[0]:g}"
    for name in ("genrec", "knn", "genrec_head_only"):
        out[name] |= {k: out[name][head][k] for k in ("recall@10", "ndcg@10")}
    ic = out["in_catalogue"]
    ic |= {k: ic[k]["recall@10"] for k in list(ic) if k.startswith("recall")}
    ic["recall@10"] = ic[f"recall@10_with_added_{head}"]
    return out


def _share_with_new(lists: list[list[int]], is_new: np.ndarray) -> float:
    """Share of the lists holding at least one added item."""
    return round(float(np.mean([any(is_new[r] for r in lst) for lst in lists])), 4)


def _metrics(lists: list[list[int]], ds: Dataset, snap: Any, users: list[int], back: int
             ) -> dict[str, float]:
    """Recall/NDCG@10 of lists[j] for users[j] against item -1 - back; short lists padded."""
    top = np.full((len(users), 10), -1, dtype=np.int64)
    for row, lst in enumerate(lists):
        top[row, : len(lst[:10])] = lst[:10]
    target = np.array([snap.row_of[ds.item_ids[ds.sequences[u][-1 - back]]] for u in users])
    m = ranking_metrics(top, target, ks=(10,))
    return {k: round(v, 5) for k, v in m.items()}


if __name__ == "__main__":
    main()
