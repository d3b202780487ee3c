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
one whose cold-user reading is best while warm validation users lose at most --budget of their
Recall@10. `test` then reads test users once with those choices.

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
import itertools
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from coldstart_harness import Harness, Users, fill, fill_gated, metrics, query_scores, top_new

from genrec.api import make_index
from genrec.catalog import Catalog
from genrec.coldstart import ColdStart, load_content, save_coldstart
from genrec.data import Dataset, Split, load_dataset
from genrec.io import is_quiet, read_json, write_json
from genrec.model import GenerativeRecommender
from genrec.model.train import Trainer
from genrec.run import RunConfig, load_recommender, model_config, save_items

NEIGHBOURS = (1, 2, 5, 10, 20)
RECENT = (1, 2, 3, 5, 10, 20)
DECAY = (0.25, 0.5, 0.75, 1.0)
CONTENT_WEIGHT = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
BIAS = (-8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
MARGIN = (-4.0, -3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0,
          8.0, 10.0, 12.0, 16.0, 1e9)  # 1e9: a pick always takes its slot
EPS = (0.1, 0.2)


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    if args.phase == "report":
        return _report(args)
    run = RunConfig.from_toml(args.config)
    ds = load_dataset(run.dataset, args.data_dir)
    held = np.random.default_rng(args.seed).random(ds.n_items) < args.holdout  # bool [N]
    out = args.out_dir = Path(args.out or f"runs/coldstart-{_short(run.dataset)}")
    result = Path(f"benchmarks/results/coldstart-{_short(run.dataset)}.json")
    if args.quick:
        result = out / "coldstart-quick.json"
    start = time.perf_counter()
    if args.phase == "train":
        return _train_warm(ds, held, out, run, args)
    block = read_json(result) if result.exists() else {}
    if args.phase == "liger":
        block["liger"] = _liger(ds, Path(args.run), block["selection"], args)
    else:
        cat, is_new = _catalog(out, ds, held, _cold_start(_cs(block, args.phase)))
        h = Harness(cat.snapshot.rec, cat.snapshot.content, is_new)
        valid, test = (_users(ds, cat, held, back) for back in (1, 0))
        if args.quick:
            valid, test = ((c.take(200), w.take(300)) for c, w in (valid, test))
        if args.phase == "select":
            args.previous = block.get("selection") if args.reuse_ranking else None
            block["selection"] = _select(h, *valid, args)
        else:
            block["test"] = _test(h, *test, block["selection"], cat, args)
    block[f"{args.phase}_seconds"] = round(time.perf_counter() - start, 1)
    block[f"{args.phase}_command"] = "python benchmarks/coldstart.py " + " ".join(sys.argv[1:])
    write_json(result, block)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phase", choices=("train", "select", "test", "liger", "report"))
    ap.add_argument("--config", default="configs/beauty.toml", help="the release recipe")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="TIGER-protocol run (runs/coldstart-NAME)")
    ap.add_argument("--run", default=None, help="liger: the release run of this dataset")
    ap.add_argument("--holdout", type=float, default=0.05, help="share of items held out")
    ap.add_argument("--budget", type=float, default=0.04,
                    help="largest in-catalogue Recall@10 drop allowed on validation")
    ap.add_argument("--warm-sample", type=int, default=8000,
                    help="warm validation users that measure the drop while selecting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse-ranking", action="store_true",
                    help="select: keep the new-item ranking and KNN choices already recorded")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: tiny grids, a few hundred users, results under runs/")
    args = ap.parse_args()
    if args.quick:
        global NEIGHBOURS, RECENT, DECAY, CONTENT_WEIGHT, BIAS
        NEIGHBOURS, RECENT, DECAY, CONTENT_WEIGHT = (5,), (3, 5), (0.5,), (0.0, 8.0)
        BIAS = (-2.0, 0.0, 2.0)
        global MARGIN
        MARGIN = (0.0, 4.0, 1e9)
        args.warm_sample = 300
    return args


def log(message: str) -> None:
    """One progress line on stderr (silenced with GENREC_QUIET=1)."""
    if not is_quiet():
        print(message, file=sys.stderr, flush=True)


def _short(dataset: str) -> str:
    return dataset.removeprefix("amazon2014-")


def _cs(block: dict[str, Any], phase: str) -> dict[str, Any]:
    """The chosen ColdStart once selected (its neighbours shape the catalogue's new rows)."""
    return block["selection"]["genrec"] if phase == "test" else {}


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


# --- selection on validation users ----------------------------------------------------------
def _select(h: Harness, cold: Users, warm_all: Users, args: argparse.Namespace
            ) -> dict[str, Any]:
    warm = warm_all.take(args.warm_sample, args.seed)
    sel: dict[str, Any] = {"n_cold_users": len(cold), "n_warm_users": len(warm),
                           "budget": args.budget}
    if args.previous and "scorer" in args.previous:  # stage 1 as chosen before (same users)
        sel["scorer"], sel["knn"] = args.previous["scorer"], args.previous["knn"]
        scorer = ColdStart(**{k: args.previous["genrec"][k] for k in
                              ("neighbours", "recent", "decay", "content_weight")})
    else:
        sel["scorer"], scorer = _select_scorer(h, cold)
        sel["knn"] = _select_knn(h, cold)
    before = h.lists(warm, None)
    base = {"shipped": metrics(before["shipped"], warm)["recall@10"],
            "beam": metrics(before["beam"], warm)["recall@10"]}
    h.set_neighbours(scorer.neighbours)
    sel["fresh_search"], margins = {}, {}
    for name, rank in (("genrec", "genrec"), ("head_only", "head"), ("content_only", "content")):
        for slots in (1, 2):
            margins[name, slots], sel["fresh_search"][f"{name}/eps=0.{slots}"] = \
                _select_margin(h, cold, warm, scorer, slots, rank, base["shipped"], args.budget)
    sel["knn_gate"] = {f"eps=0.{n}": _select_knn_gate(h, cold, warm, sel["knn"]["slots"], n,
                                                       base["shipped"], args.budget)
                       for n in (1, 2)}
    bias, sel["bias_search"] = _select_bias(h, cold, warm, scorer, base["beam"], args.budget)
    expand = _select_expand(h, cold, warm, replace(scorer, bias=bias), base, args.budget)
    sel["expand_search"] = expand
    best_expand = max(expand, key=lambda e: (e["ok"], e["recall@20"]))["expand"]
    for name, cs in (("genrec", scorer), ("head_only", replace(scorer, content_weight=0.0)),
                     ("content_only", scorer)):
        sel[name] = asdict(replace(cs, bias=bias, expand=best_expand,
                                   margin=(margins[name, 1], margins[name, 2])))
    save_coldstart(args.out_dir, ColdStart(**sel["genrec"]))  # the TIGER run's own choice
    return sel


def _select_margin(h: Harness, cold: Users, warm: Users, cs: ColdStart, slots: int, rank: str,
                   base: float, budget: float) -> tuple[float, list[dict]]:
    """Fresh slots: the margin (MARGIN, ascending) with the best cold users' Recall@10 while
    warm users lose at most `budget` of theirs."""
    trail, best = [], (-1.0, MARGIN[0])
    for m in MARGIN:
        trial = replace(cs, margin=(m,) * slots)
        change = metrics(h.fresh_lists(warm, trial, slots, rank), warm)["recall@10"] / base - 1
        reading = metrics(h.fresh_lists(cold, trial, slots, rank), cold)
        ok = change >= -budget
        trail.append({"margin": m,
                      "in_catalogue_change": round(change, 4), "ok": ok} | reading)
        if ok:
            best = max(best, (reading["recall@10"], m))
    log(f"{rank} eps=0.{slots}: margin {best[1]} -> cold users Recall@10 {best[0]}")
    return best[1], trail


def _select_knn_gate(h: Harness, cold: Users, warm: Users, knn: dict[str, Any], slots: int,
                     base: float, budget: float) -> dict[str, Any]:
    """The baseline under genrec's in-catalogue budget: a KNN pick takes its slot only when its
    score reaches a threshold (a quantile of the warm users' top scores, chosen like genrec's
    margin: best cold users' Recall@10 within the budget)."""
    lists = {}
    for group, users in (("cold", cold), ("warm", warm)):
        score = query_scores(h.content, users.hists, h.new_rows, knn["recent"], knn["decay"],
                             knn["agg"])
        picks, scores = top_new(score, h.new_rows, users.hists, slots, with_scores=True)
        lists[group] = (h.trained_lists(users), picks, scores)
    levels = np.quantile(lists["warm"][2][:, 0], np.linspace(0, 1, 41))
    trail, best = [], (-1.0, float(levels[-1]) + 1)
    for level in sorted(set(levels.tolist())) + [float(levels[-1]) + 1]:
        change = metrics(fill_gated(*lists["warm"], level, slots), warm)["recall@10"] / base - 1
        reading = metrics(fill_gated(*lists["cold"], level, slots), cold)
        ok = change >= -budget
        trail.append({"threshold": round(level, 5), "in_catalogue_change": round(change, 4),
                      "ok": ok} | reading)
        if ok:
            best = max(best, (reading["recall@10"], level))
    log(f"knn eps=0.{slots}: threshold {best[1]:.4f} -> cold users Recall@10 {best[0]}")
    return {"threshold": best[1], "trail": trail}


def _select_bias(h: Harness, cold: Users, warm: Users, cs: ColdStart, base: float,
                 budget: float) -> tuple[float, list[dict]]:
    """Generation: the bias (BIAS, ascending) with the best cold users' beam-only Recall@20
    while warm users' beam-only Recall@10 drops at most `budget`."""
    trail, best = [], (-1.0, BIAS[0])  # nothing within budget: the lowest bias (see trail)
    for b in BIAS:
        trial = replace(cs, bias=b)
        change = metrics(h.lists(warm, trial)["beam"], warm)["recall@10"] / base - 1
        entry = {"bias": b, "in_catalogue_change": round(change, 4)}
        if change < -budget:
            trail.append(entry)
            break
        reading = metrics(h.lists(cold, trial)["beam"], cold, 20)
        log(f"bias {b:+g}: in-catalogue {change:+.2%}, cold users {reading}")
        trail.append(entry | reading)
        best = max(best, (reading["recall@20"], b))
    return best[1], trail


def _select_expand(h: Harness, cold: Users, warm: Users, cs: ColdStart,
                   base: dict[str, float], budget: float) -> list[dict[str, Any]]:
    """With no cap, at the chosen bias: how many new items' first codes the beam expands."""
    out = []
    for n in (1, 2, 5, 10):
        trial = replace(cs, expand=n)
        change = metrics(h.lists(warm, trial)["beam"], warm)["recall@10"] / base["beam"] - 1
        reading = metrics(h.lists(cold, trial)["beam"], cold, 20)
        log(f"expand {n}: in-catalogue {change:+.2%}, cold users {reading}")
        out.append({"expand": n, "in_catalogue_change": round(change, 4),
                    "ok": change >= -budget} | reading)
    return out


def _select_scorer(h: Harness, cold: Users) -> tuple[dict[str, Any], ColdStart]:
    """neighbours, recent, decay, content_weight: best mean of hit@1 and hit@2 when the cold
    users' new items are ranked by head logit + content_weight * cosine."""
    logits = torch.cat([s @ h.table0.T for _, _, s in h.encodings(cold)]).numpy()  # [U, N]
    seen = _seen_new(h, cold)
    best: tuple[float, tuple] = (-1.0, ())
    grid = []
    cosines = {(r, d): query_scores(h.content, cold.hists, h.new_rows, r, d, "cos")
               for r, d in itertools.product(RECENT, DECAY)}  # per user: a shift only
    for k in NEIGHBOURS:
        head = logits[:, h.near[:, :k]].mean(2)  # [U, M]
        for (r, d), cos in cosines.items():
            for w in CONTENT_WEIGHT:
                score = _hits(head + w * cos, seen, h.new_rows, cold.targets)
                grid.append({"neighbours": k, "recent": r, "decay": d, "content_weight": w,
                             "objective": round(score, 5)})
                best = max(best, (score, (k, r, d, w)))
    k, r, d, w = best[1]
    content = max((_hits(cos, seen, h.new_rows, cold.targets), key)
                  for key, cos in cosines.items())
    return ({"objective": "mean of hit@1 and hit@2 among new items", "best": round(best[0], 5),
             "content_alone": round(content[0], 5), "grid": grid},
            ColdStart(neighbours=k, recent=r, decay=d, content_weight=w))


def _select_knn(h: Harness, cold: Users) -> dict[str, Any]:
    """The baseline's query (recent, decay, sum/max), for its slots (hit@1, hit@2) and for its
    top-20 (hit@20), each on the same cold validation users."""
    seen = _seen_new(h, cold)
    out: dict[str, Any] = {}
    for key, n in (("slots", (1, 2)), ("top20", (20,))):
        scored = []
        for r, d, agg in itertools.product(RECENT, DECAY, ("sum", "max")):
            score = query_scores(h.content, cold.hists, h.new_rows, r, d, agg)
            scored.append((_hits(score, seen, h.new_rows, cold.targets, n),
                           {"recent": r, "decay": d, "agg": agg}))
        top = max(scored, key=lambda t: t[0])
        out[key] = top[1] | {"objective": round(top[0], 5)}
    return out


def _seen_new(h: Harness, users: Users) -> np.ndarray:
    """bool [U, M]: new rows already in each user's history (never recommended)."""
    return np.stack([np.isin(h.new_rows, hist) for hist in users.hists])


def _hits(score: np.ndarray, seen: np.ndarray, rows: np.ndarray, targets: np.ndarray,
          ns: tuple[int, ...] = (1, 2)) -> float:
    """Mean over ns of the share of users whose target is among their n best rows."""
    score = np.where(seen, -np.inf, score)
    order = np.argsort(-score, axis=1, kind="stable")[:, : max(ns)]
    hit = rows[order] == targets[:, None]  # [U, n]
    return float(np.mean([hit[:, :n].any(1).mean() for n in ns]))


# --- the test pass ----------------------------------------------------------------------------
def _test(h: Harness, cold: Users, warm: Users, sel: dict[str, Any], cat: Catalog,
          args: argparse.Namespace) -> dict[str, Any]:
    chosen = {name: _cold_start(sel[name]) for name in ("genrec", "head_only", "content_only")}
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


def _cold_start(raw: dict[str, Any]) -> ColdStart:
    return ColdStart(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


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
    cs = _cold_start(sel["genrec"])
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


# --- the combined result ----------------------------------------------------------------------
def _report(args: argparse.Namespace) -> None:
    """benchmarks/results/coldstart.json: Beauty's TIGER rows at the top (the issue's keys),
    every dataset's blocks under `datasets`, LIGER rows under `liger`."""
    blocks = {p.stem.removeprefix("coldstart-"): read_json(p)
              for p in sorted(Path("benchmarks/results").glob("coldstart-*.json"))}
    out: dict[str, Any] = {"protocol": "see benchmarks/coldstart.py and docs/benchmarks.md",
                           "datasets": blocks,
                           "liger": {n: {k: b["liger"][k] for k in ("cold", "warm")}
                                     for n, b in blocks.items() if "liger" in b}}
    if "beauty" in blocks:
        out["selection"] = blocks["beauty"].get("selection", {})
        out |= {k: v for k, v in blocks["beauty"].get("test", {}).items()
                if k.startswith("eps=")}
    write_json("benchmarks/results/coldstart.json", out)
    print(_markdown(blocks))


def _markdown(blocks: dict[str, Any]) -> str:
    """The tables docs/benchmarks.md shows, from the result files."""
    rows = ["| dataset | ε | row | cold users Recall@10 | NDCG@10 | in-catalogue change |",
            "|---|---|---|---|---|---|"]
    names = (("genrec", "**genrec** (fresh slots)"), ("head_only", "genrec, head only"),
             ("content_only", "genrec, content only"), ("knn_gated", "content-KNN, same budget"),
             ("knn", "content-KNN, always fills"))
    for name, b in blocks.items():
        test = b.get("test", {})
        for eps in EPS:
            row = test.get(f"eps={eps:g}")
            for key, label in names if row else ():
                r = row[key]
                rows.append(f"| {name} | {eps:g} | {label} | {r['recall@10']:.4f} | "
                            f"{r['ndcg@10']:.4f} | {r['in_catalogue_change']:+.1%} |")
    gen = ["", "| dataset | beam-only Recall@20, cold users | content-KNN Recall@20 (new items "
           "only) | beam-only in-catalogue change | shipped (no cap) cold Recall@10 |",
           "|---|---|---|---|---|"]
    for name, b in blocks.items():
        g = b.get("test", {}).get("generation")
        if g:
            gen.append(f"| {name} | {g['beam_only_recall@20_new']:.4f} | "
                       f"{g['knn_recall@20_new']:.4f} | "
                       f"{g['beam_only_in_catalogue_change']:+.1%} | {g['recall@10']:.4f} |")
    lig = ["", "| dataset | list | cold users Recall@10 / NDCG@10 | others Recall@10 / NDCG@10 "
           "(change) |", "|---|---|---|---|"]
    for name, b in blocks.items():
        for key in ("generation", "eps=0.1", "eps=0.2") if "liger" in b else ():
            c, w = b["liger"][key]["cold"], b["liger"][key]["warm"]
            lig.append(f"| {name} ({b['liger']['n_cold_users']} users, "
                       f"{b['liger']['n_cold_items']} items) | {key} | "
                       f"{c['recall@10']:.4f} / {c['ndcg@10']:.4f} | {w['recall@10']:.4f} / "
                       f"{w['ndcg@10']:.4f} ({w['in_catalogue_change']:+.1%}) |")
    return "\n".join(rows + gen + lig)


if __name__ == "__main__":
    main()

