"""Quality table: genrec, SASRec (full softmax) and popularity on Beauty, Toys and Sports, plus
an ablation over ID schemes on Beauty, all in one harness (same split, history rule, metrics).

    python benchmarks/quality.py --data-dir ../shared/data                 # everything
    python benchmarks/quality.py --data-dir ../shared/data --only popularity,sasrec
    python benchmarks/quality.py --data-dir ../shared/data --ablation-only --ablation-epochs 6

Each job runs in its own folder under --runs (default runs/quality) and is skipped when that
folder already holds its metrics.json, so the table fills in across sessions and a killed job
resumes from its checkpoint. Writes benchmarks/results/quality.json and the tables between the
`quality` markers in docs/benchmarks.md. Sports has no item text: its genrec row uses semantic
IDs made from SASRec's learned item vectors (collaborative IDs), so it needs the SASRec row first.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from genrec.baselines.run import BaselineConfig, run_baseline
from genrec.io import read_json, write_json, write_text
from genrec.run import RunConfig, evaluate_run, load_run_dataset, run_pipeline
from genrec.semantic_ids import IndexConfig

DATASETS = {"beauty": "amazon2014-beauty", "toys": "amazon2014-toys",
            "sports": "amazon2014-sports", "ml1m": "movielens-1m"}
# Published numbers (Recall@5, NDCG@5, Recall@10, NDCG@10) on the same 5-core data and split.
PUBLISHED = {
    ("beauty", "TIGER"): (0.0454, 0.0321, 0.0648, 0.0384),
    ("beauty", "SASRec as TIGER reported it"): (0.0387, 0.0249, 0.0605, 0.0318),
    ("beauty", "SASRec, full softmax (eSASRec report)"): (None, None, 0.0921, 0.0531),
    ("sports", "TIGER"): (0.0264, 0.0181, 0.0400, 0.0225),
    ("sports", "SASRec as TIGER reported it"): (0.0233, 0.0154, 0.0350, 0.0192),
    ("toys", "TIGER"): (0.0521, 0.0371, 0.0712, 0.0432),
    ("toys", "SASRec as TIGER reported it"): (0.0463, 0.0306, 0.0675, 0.0374),
}
SOURCES = {"TIGER": "Rajput et al., NeurIPS 2023, Table 2",
           "SASRec as TIGER reported it": "Rajput et al., NeurIPS 2023, Table 2",
           "SASRec, full softmax (eSASRec report)": "Tikhonovich et al. 2025 (eSASRec), as "
           "quoted in the genrec issue tracker"}
ABLATION = [("rqvae", False), ("rqvae", True), ("rkmeans", False), ("rkmeans", True),
            ("hkmeans", False), ("title", False), ("random", False)]
HARDWARE = f"{os.cpu_count()}-core {platform.machine()} CPU"
GENERATIVE = "metrics_generative.json"  # ablation runs scored without the item head's re-ranking


def main() -> None:
    args = _parse()
    results = _load_results()
    models = args.only.split(",") if args.only else ["popularity", "sasrec", "genrec"]
    if not args.ablation_only:
        for short in args.datasets.split(","):
            for model in models:
                row = _row(model, short, args)
                if row is not None:
                    results[f"{short}/{model}"] = row | {"dataset": short, "model": model}
                    _save(results)
    if not args.skip_ablation:
        for method, balance in ABLATION:
            name = method + ("+balance" if balance else "")
            if args.ablation_ids and name not in args.ablation_ids.split(","):
                continue
            row = _ablation(method, balance, args)
            if row is not None:
                key = f"ablation/{method}{'+balance' if balance else ''}"
                results[key] = row | {"dataset": "beauty", "model": "genrec"}
                _save(results)
    _save(results)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--runs", default="runs/quality", help="one folder per job")
    ap.add_argument("--datasets", default="beauty,toys,sports")
    ap.add_argument("--only", default="", help="models: popularity,sasrec,genrec")
    ap.add_argument("--skip-ablation", action="store_true")
    ap.add_argument("--ablation-only", action="store_true")
    ap.add_argument("--collect-only", action="store_true",
                    help="only gather jobs that have finished; run nothing")
    ap.add_argument("--ablation-ids", default="",
                    help="only these ablation rows, e.g. rqvae,rqvae+balance (default: all)")
    ap.add_argument("--ablation-minutes", type=float, default=12.0,
                    help="training budget of each ablation run (the full run uses 48)")
    ap.add_argument("--ablation-epochs", type=int, default=0,
                    help="train each ablation run for exactly this many epochs instead (no "
                    "time guard), so rows don't depend on how busy the machine was")
    return ap.parse_args()


def _row(model: str, short: str, args: argparse.Namespace) -> dict[str, Any] | None:
    out = Path(args.runs) / f"{short}-{model}"
    if (out / "metrics.json").exists() or args.collect_only:
        return _summarize(out)
    if model == "genrec":
        run = RunConfig.from_toml(f"configs/{short}.toml")
        run_pipeline(run, args.data_dir, out)
    else:
        cfg_path = f"configs/sasrec-{short}.toml"
        cfg = BaselineConfig.from_toml(cfg_path, model)
        run_baseline(model, cfg, args.data_dir, out)
    return _summarize(out)


def _ablation(method: str, balance: bool, args: argparse.Namespace
              ) -> dict[str, Any] | None:
    out = Path(args.runs) / f"ablation-{method}{'-balance' if balance else ''}"
    if not (out / "metrics.json").exists() and not args.collect_only:
        run = RunConfig.from_toml("configs/beauty.toml")
        run = replace(run, index=IndexConfig(method=method, balance=balance),
                      train=replace(run.train, **_ablation_budget(args)))
        run_pipeline(run, args.data_dir, out)
    row = _summarize(out)
    if row is None:
        return None
    generative = out / GENERATIVE
    if not generative.exists() and not args.collect_only:  # the same model, beam scores only
        run = RunConfig.from_dict(read_json(out / "config.json"))
        evaluate_run(out, load_run_dataset(run, args.data_dir).split(),
                     replace(run.eval, item_weight=0.0), metrics_file=GENERATIVE)
    if generative.exists():
        m = read_json(generative)
        row |= {"generative_recall@10": m["recall@10"], "generative_ndcg@10": m["ndcg@10"]}
    train = read_json(out / "config.json")["train"]
    budget = (f"{train['epochs']} epochs" if not train["max_minutes"]
              else f"{train['max_minutes']:g} min")
    return row | {"ids": method + (" + balance" if balance else ""), "budget": budget,
                  "epochs_trained": read_json(out / "history.json")[-1]["epoch"]}


def _ablation_budget(args: argparse.Namespace) -> dict[str, Any]:
    """Fixed epochs (schedule by steps, validation at half-way and at the end) or minutes."""
    if args.ablation_epochs:
        e = args.ablation_epochs
        return {"epochs": e, "max_minutes": 0.0, "eval_every": max(1, e // 2)}
    return {"max_minutes": args.ablation_minutes}


def _summarize(out: Path) -> dict[str, Any] | None:
    if not (out / "metrics.json").exists():
        return None
    m = read_json(out / "metrics.json")
    keep = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "invalid_rate", "n_users",
            "beam_only", "head_only", "head_in_candidates")  # the last three: genrec only
    return {**{k: m[k] for k in keep if k in m}, "minutes": round(m["pipeline_seconds"] / 60, 1),
            "hardware": HARDWARE, "run": str(out)}


def _load_results() -> dict[str, Any]:
    path = Path("benchmarks/results/quality.json")
    return read_json(path)["rows"] if path.exists() else {}


def _save(rows: dict[str, Any]) -> None:
    published = [{"dataset": d, "model": m, "source": SOURCES[m],
                  **dict(zip(("recall@5", "ndcg@5", "recall@10", "ndcg@10"), v, strict=True))}
                 for (d, m), v in PUBLISHED.items()]
    write_json("benchmarks/results/quality.json", {"rows": rows, "published": published})
    _write_docs(rows, published)


def _minutes(m: float) -> str:
    return "< 0.1 min" if m < 0.1 else f"{m:g} min"


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"


def _pair(reading: dict[str, float] | None) -> str:
    """'R@10 / N@10' of a reading ({recall@10, ndcg@10}), or a dash."""
    if not reading:
        return "–"
    return f"{reading['recall@10']:.4f} / {reading['ndcg@10']:.4f}"


def _tables(rows: dict[str, Any], published: list[dict[str, Any]]) -> str:
    head = ("| dataset | model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | beam only R@10 / N@10 "
            "| head only R@10 / N@10 | time, hardware |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for short in DATASETS:
        for key, r in rows.items():
            if key.startswith(f"{short}/"):
                lines.append(f"| {short} | **{r['model']}** (this harness) | "
                             + " | ".join(_fmt(r[k]) for k in ("recall@5", "ndcg@5", "recall@10",
                                                               "ndcg@10"))
                             + f" | {_pair(r.get('beam_only'))} | {_pair(r.get('head_only'))}"
                             + f" | {_minutes(r['minutes'])}, {r['hardware']} |")
        for p in published:
            if p["dataset"] == short:
                lines.append(f"| {short} | {p['model']} ({p['source']}) | "
                             + " | ".join(_fmt(p[k]) for k in ("recall@5", "ndcg@5", "recall@10",
                                                               "ndcg@10")) + " | – | – | – |")
    abl = [("| ID scheme | Recall@10 | NDCG@10 | beam only: Recall@10 | NDCG@10 | invalid "
            "| training budget | epochs trained | total time |"),
           "|---|---|---|---|---|---|---|---|---|"]
    order = [f"ablation/{m}{'+balance' if bal else ''}" for m, bal in ABLATION]
    for key, r in sorted(rows.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order
                         else len(order)):
        if key.startswith("ablation/"):
            abl.append(f"| {r['ids']} | {_fmt(r['recall@10'])} | {_fmt(r['ndcg@10'])} | "
                       f"{_fmt(r.get('generative_recall@10'))} | "
                       f"{_fmt(r.get('generative_ndcg@10'))} | "
                       f"{r['invalid_rate']:.0%} | {r['budget']} | {r['epochs_trained']} | "
                       f"{r['minutes']} min |")
    return "\n".join(lines) + "\n\nAblation on Beauty (one row per ID scheme):\n\n" + "\n".join(abl)


def _write_docs(rows: dict[str, Any], published: list[dict[str, Any]]) -> None:
    path = Path("docs/benchmarks.md")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"<!-- quality:start -->\n{_tables(rows, published)}\n<!-- quality:end -->"
    pattern = re.compile(r"<!-- quality:start -->.*?<!-- quality:end -->", re.S)
    text = pattern.sub(block, text) if pattern.search(text) else text + "\n" + block + "\n"
    write_text(path, text)


if __name__ == "__main__":
    main()
