"""Cold start, measured as the TIGER and LIGER papers do, every constant chosen on validation.

    python benchmarks/coldstart.py train  --config configs/beauty.toml --data-dir ../shared/data
    python benchmarks/coldstart.py select --config configs/beauty.toml --data-dir ../shared/data
    python benchmarks/coldstart.py test   --config configs/beauty.toml --data-dir ../shared/data
    python benchmarks/coldstart.py liger  --config configs/beauty.toml --data-dir ../shared/data \
        --run runs/beauty
    python benchmarks/coldstart.py report   # -> benchmarks/results/coldstart.json

TIGER protocol. 5% of the items (seed 0) are held out: the quantizer is fitted on the other 95%
and the model (the config's default recipe) never sees them; training sequences are each
user's items before the test item with the held-out ones dropped. After training `Catalog.add`
codes them from their text (frozen quantizer) and the beam can generate them at once
(genrec.coldstart). Validation users: target = the second-to-last item; test users: the last.
"cold" users' target is held out; the others ("warm") measure the in-catalogue change: Recall@10
with the new items in the catalogue over Recall@10 without them, minus 1.

`select` reads validation users only and writes every choice (`selection`): first the new-item
scorer (neighbours, query window, decay, content weight) and the content-KNN baseline's query
(window, decay, sum or max of cosines), each ranked among the new items; then per list policy
(at most 1 or 2 new items: eps = 0.1, 0.2; or no cap, for the beam-only reading) the bias: the
one whose cold-user reading is best among the settings whose warm validation users' Recall@10
drop is admissible (coldstart_select.Rule: below --bar on test with --confidence, from its
paired standard error). `test` then reads test users once with those choices.

Rows. genrec: the shipped lists. head_only: the same with no content term; content_only: new
items ranked by content alone (the head's logit swapped for its mean over new items), each with
its own bias chosen the same way. knn: genrec's trained items with the last ceil(eps * 10) slots
always given to content-KNN's picks. beam_only: the beam's own top-20 (no cap, no re-scoring).

LIGER protocol (`liger`, on the release model): cold items are those in no training or
validation sequence (they appear only as test targets); they are read as new items with the
selection of this dataset's TIGER run; Recall/NDCG@10 on users whose test target is cold and on
the others.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import coldstart_select
import numpy as np
import torch
from coldstart_harness import Harness, Users, fill, fill_gated, metrics, query_scores, top_new
from coldstart_report import report
from coldstart_select import select

from genrec.api import make_index
from genrec.catalog import Catalog
from genrec.coldstart import ColdStart, coldstart_from_dict, load_content
from genrec.data import Dataset, Split, load_dataset
from genrec.io import read_json, write_json
from genrec.model import GenerativeRecommender
from genrec.model.train import Trainer
from genrec.run import RunConfig, load_recommender, model_config, save_items

EPS = (0.1, 0.2)


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    if args.phase == "report":
        return report()
    run = RunConfig.from_toml(args.config)
    ds = load_dataset(run.dataset, args.data_dir)
    held = held_out(ds.n_items, args.holdout, args.seed)
    out = args.out_dir = Path(args.out or f"runs/coldstart-{_short(run.dataset)}")
    result = Path(f"benchmarks/results/coldstart-{_short(run.dataset)}.json")
    if args.quick:
        result = out / "coldstart-quick.json"
    start = time.perf_counter()
    if args.phase == "train":
        return _train_warm(ds, held, out, run, args)
    block = read_json(result) if result.exists() else {}
    if args.phase in ("test", "liger") and "selection" not in block:
        sys.exit(f"coldstart.py {args.phase}: {result} has no selection; run `select` first")
    if args.phase == "liger" and not args.run:
        sys.exit("coldstart.py liger: --run is required (the dataset's release run folder)")
    if args.phase in ("select", "test") and not (out / "model.safetensors").exists():
        sys.exit(f"coldstart.py {args.phase}: {out} holds no trained model; run `train` first")
    if args.phase == "liger":
        block["liger"] = _liger(ds, Path(args.run), block["selection"], args)
    elif args.phase == "select":
        block["selection"] = _select(ds, held, out, block, args)
    else:
        chosen = coldstart_from_dict(block["selection"]["genrec"])
        cat, h, _, test = _harness(out, ds, held, chosen, args)
        block["test"] = _test(h, *test, block["selection"], cat, args)
    block[f"{args.phase}_seconds"] = round(time.perf_counter() - start, 1)
    block[f"{args.phase}_command"] = "python benchmarks/coldstart.py " + " ".join(sys.argv[1:])
    write_json(result, block)


def held_out(n_items: int, share: float = 0.05, seed: int = 0) -> np.ndarray:
    """bool [n_items]: the items the TIGER protocol holds out (each with probability share)."""
    return np.random.default_rng(seed).random(n_items) < share


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phase", choices=("train", "select", "test", "liger", "report"))
    ap.add_argument("--config", default="configs/beauty.toml", help="the release recipe")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="TIGER-protocol run (runs/coldstart-NAME)")
    ap.add_argument("--run", default=None, help="liger: the release run of this dataset")
    ap.add_argument("--holdout", type=float, default=0.05, help="share of items held out")
    ap.add_argument("--bar", type=float, default=0.05,
                    help="select: the in-catalogue Recall@10 drop a chosen setting must stay "
                         "below on test (with --confidence; coldstart_select.Rule)")
    ap.add_argument("--confidence", type=float, default=0.95,
                    help="select: one-sided confidence that the test drop stays below --bar")
    ap.add_argument("--warm-sample", type=int, default=0,
                    help="select: warm validation users that measure the drop (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse-ranking", action="store_true",
                    help="select: keep the new-item ranking and KNN choices already recorded "
                         "(step 1; the list policies are searched again)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: tiny grids, a few hundred users, results under runs/")
    args = ap.parse_args()
    if not 0.0 < args.bar < 1.0:
        ap.error(f"--bar: want a share of Recall@10 in (0, 1), got {args.bar:g}")
    if not 0.5 <= args.confidence < 1.0:
        ap.error(f"--confidence: want a one-sided level in [0.5, 1), got {args.confidence:g}")
    if args.warm_sample < 0:
        ap.error(f"--warm-sample: want 0 (all) or a number of users, got {args.warm_sample}")
    if args.quick:
        coldstart_select.NEIGHBOURS, coldstart_select.RECENT = (5,), (3, 5)
        coldstart_select.DECAY, coldstart_select.CONTENT_WEIGHT = (0.5,), (0.0, 8.0)
        coldstart_select.SEARCH, coldstart_select.MARGIN = (-2.0, 2.0, 1.0), (0.0, 4.0, 1e9)
        coldstart_select.VARIANTS = ((1, 1.0, 1.0), (1, 1.0, 0.2))
        coldstart_select.GATE_CONTENT = (0.0, 16.0)
        args.warm_sample = 300
    return args


def _short(dataset: str) -> str:
    return dataset.removeprefix("amazon2014-")


def _harness(out: Path, ds: Dataset, held: np.ndarray, cs: ColdStart, args: argparse.Namespace
             ) -> tuple[Catalog, Harness, tuple[Users, Users], tuple[Users, Users]]:
    """The catalogue with the held-out items added (cs.neighbours shapes their input rows, read
    wherever a history holds them), its harness, and (cold, warm) validation and test users."""
    cat, is_new = _catalog(out, ds, held, cs)
    h = Harness(cat.snapshot.rec, cat.snapshot.content, is_new)
    valid, test = (_users(ds, cat, held, back) for back in (1, 0))
    if args.quick:
        valid, test = ((c.take(200), w.take(300)) for c, w in (valid, test))
    return cat, h, valid, test


def _select(ds: Dataset, held: np.ndarray, out: Path, block: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    """select, on a catalogue whose new items' input rows use the neighbours step 1 chooses
    (as the test pass's catalogue does): when step 1 picks other neighbours than the
    catalogue was built with, it is built again and step 2 runs on it (step 1 kept)."""
    args.previous = block.get("selection") if args.reuse_ranking else None
    neighbours = (args.previous or {}).get("genrec", {}).get("neighbours", ColdStart.neighbours)
    while True:
        _, h, valid, _ = _harness(out, ds, held, ColdStart(neighbours=neighbours), args)
        sel = select(h, *valid, args)
        if sel["genrec"]["neighbours"] == neighbours:
            return sel
        neighbours, args.previous = sel["genrec"]["neighbours"], sel


# --- the TIGER-protocol run ------------------------------------------------------------------
def _train_warm(ds: Dataset, held: np.ndarray, run_dir: Path, run: RunConfig,
                args: argparse.Namespace) -> None:
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
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", run.to_dict() | {"coldstart_holdout": args.holdout})
    save_items(warm, run_dir)
    index = make_index(warm, run.index, run_dir / "index", run.vectors)
    torch.manual_seed(run.train.seed)
    model = GenerativeRecommender(model_config(run, index, warm.n_items))
    Trainer(model, index, split, run.train, run_dir).fit()


def _catalog(run_dir: Path, ds: Dataset, held: np.ndarray, cs: ColdStart
             ) -> tuple[Catalog, np.ndarray]:
    """The trained run's catalogue with the held-out items added (in memory only)."""
    cat = Catalog(run_dir, persist=False, coldstart=cs)
    cat.add([{**ds.items[i], "id": ds.item_ids[i], "title": ds.title(i)}
             for i in np.flatnonzero(held)])
    snap = cat.snapshot
    return cat, np.arange(len(snap.item_ids)) >= snap.n_trained


def _users(ds: Dataset, cat: Catalog, held: np.ndarray, back: int) -> tuple[Users, Users]:
    """(cold, warm) users whose target is item -1 - back; histories before it, as rows."""
    row = np.array([cat.snapshot.row_of[i] for i in ds.item_ids])  # dataset item -> row
    groups: tuple[list, list] = ([], [])
    for s in ds.sequences:
        if len(s) >= 2 + back:
            target = s[-1 - back]
            groups[0 if held[target] else 1].append((row[s[: len(s) - 1 - back]], row[target]))
    return tuple(Users([h for h, _ in g], np.array([t for _, t in g])) for g in groups)


# --- the test pass ----------------------------------------------------------------------------
def _test(h: Harness, cold: Users, warm: Users, sel: dict[str, Any], cat: Catalog,
          args: argparse.Namespace) -> dict[str, Any]:
    chosen = {name: coldstart_from_dict(sel[name])
              for name in ("genrec", "head_only", "content_only")}
    rank = {"genrec": "genrec", "head_only": "head", "content_only": "content"}
    out: dict[str, Any] = {"n_cold_users": len(cold), "n_warm_users": len(warm),
                           "check": _check(h, cat, cold, chosen["genrec"])}
    before = h.lists(warm, None)
    base = {r: metrics(before[r], warm)["recall@10"] for r in ("shipped", "beam")}
    out["without_new_items"] = {"warm_recall@10": base["shipped"],
                                "warm_beam_only_recall@10": base["beam"]}
    gen, gen_warm = h.lists(cold, chosen["genrec"]), h.lists(warm, chosen["genrec"])
    k20 = sel["knn"]["top20"]
    knn20 = query_scores(h.content, cold.hists, h.new_rows, k20["recent"], k20["decay"],
                         k20["agg"])
    beam = {"beam_only_recall@20_new": metrics(gen["beam"], cold, 20)["recall@20"],
            "beam_only_in_catalogue_change": _change(gen_warm["beam"], warm, base["beam"]),
            "knn_recall@20_new": metrics(top_new(knn20, h.new_rows, cold.hists, 20), cold,
                                         20)["recall@20"]}
    out["generation"] = metrics(gen["shipped"], cold) | beam | {
        "in_catalogue_change": _change(gen_warm["shipped"], warm, base["shipped"])}
    ks = sel["knn"]["slots"]
    knn_scores = {name: query_scores(h.content, u.hists, h.new_rows, ks["recent"], ks["decay"],
                                     ks["agg"]) for name, u in (("cold", cold), ("warm", warm))}
    for eps in EPS:
        slots = math.ceil(eps * 10)
        block: dict[str, Any] = {}
        for name, cs in chosen.items():
            block[name] = metrics(h.fresh_lists(cold, cs, slots, rank[name]), cold) | {
                "in_catalogue_change": _change(h.fresh_lists(warm, cs, slots, rank[name]),
                                               warm, base["shipped"])}
        block["knn"] = {}
        for group, users in (("cold", cold), ("warm", warm)):
            picks = top_new(knn_scores[group], h.new_rows, users.hists, slots)
            lists = fill(h.trained_lists(users), picks, h.is_new, slots)
            if group == "cold":
                block["knn"] |= metrics(lists, users)
            else:
                block["knn"]["in_catalogue_change"] = _change(lists, users, base["shipped"])
        gate = sel["knn_gate"][f"eps=0.{slots}"]["threshold"]
        block["knn_gated"] = {}
        for group, users in (("cold", cold), ("warm", warm)):
            picks, scores = top_new(knn_scores[group], h.new_rows, users.hists, slots,
                                    with_scores=True)
            lists = fill_gated(h.trained_lists(users), picks, scores, gate, slots)
            if group == "cold":
                block["knn_gated"] |= metrics(lists, users)
            else:
                block["knn_gated"]["in_catalogue_change"] = _change(lists, users,
                                                                    base["shipped"])
        block["in_catalogue_change"] = block["genrec"]["in_catalogue_change"]
        out[f"eps={eps:g}"] = block | {k: v for k, v in beam.items()
                                       if k != "beam_only_in_catalogue_change"}
        out[f"eps={eps:g}"]["beam_only_in_catalogue_change"] = beam[
            "beam_only_in_catalogue_change"]
    return out


def _change(lists: np.ndarray, users: Users, base: float) -> float:
    return round(metrics(lists, users)["recall@10"] / base - 1, 4)


def _check(h: Harness, cat: Catalog, users: Users, cs: ColdStart, n: int = 200
           ) -> dict[str, Any]:
    """Share of n users whose harness list equals Snapshot.recommend's (fresh = 2 and 0)."""
    sample = users.take(n)
    snap = cat.snapshot
    same = []
    for slots in (2, 0):
        mine = h.fresh_lists(sample, cs, slots) if slots else h.lists(sample, cs)["shipped"]
        theirs = snap.recommend(sample.hists, 10, [x.tolist() for x in sample.hists], slots)
        same += [[r for r, _ in t] == [r for r in m if r >= 0]
                 for m, t in zip(mine, theirs, strict=True)]
    return {"users": len(sample), "same_lists": round(float(np.mean(same)), 4)}


# --- LIGER protocol ---------------------------------------------------------------------------
def _liger(ds: Dataset, run_dir: Path, sel: dict[str, Any], args: argparse.Namespace
           ) -> dict[str, Any]:
    """Cold = items in no training or validation sequence, on the release model."""
    seen = np.zeros(ds.n_items, dtype=bool)
    for s in ds.sequences:
        seen[s[:-1]] = True
    rec = load_recommender(run_dir)
    ids = read_json(run_dir / "index" / "item_ids.json")
    row_of = {item: r for r, item in enumerate(ids)}
    row = np.array([row_of[i] for i in ds.item_ids])  # dataset item -> the run's row
    is_new = np.zeros(len(ids), dtype=bool)
    is_new[row[~seen]] = True
    h = Harness(rec, load_content(run_dir / "index", len(ids)), is_new)
    cs = coldstart_from_dict(sel["genrec"])
    h.set_neighbours(cs.neighbours)
    groups: tuple[list, list] = ([], [])
    for s in ds.sequences:
        groups[0 if not seen[s[-1]] else 1].append((row[s[:-1]], row[s[-1]]))
    cold, warm = (Users([x for x, _ in g], np.array([t for _, t in g])) for g in groups)
    base = metrics(h.lists(warm, None)["shipped"], warm)
    out: dict[str, Any] = {"n_cold_items": int((~seen).sum()), "n_cold_users": len(cold),
                           "n_warm_users": len(warm), "run": str(run_dir),
                           "warm_without_cold_items": base}
    readings = {"generation": (h.lists(cold, cs)["shipped"], h.lists(warm, cs)["shipped"])}
    for slots in (1, 2):
        readings[f"eps=0.{slots}"] = (h.fresh_lists(cold, cs, slots),
                                      h.fresh_lists(warm, cs, slots))
    for key, (c, w) in readings.items():
        warm_m = metrics(w, warm)
        out[key] = {"cold": metrics(c, cold), "warm": warm_m | {"in_catalogue_change": round(
            warm_m["recall@10"] / base["recall@10"] - 1, 4)}}
    out |= out["generation"]  # the default list (fresh = 0) at the top: cold, warm
    return out


if __name__ == "__main__":
    main()

