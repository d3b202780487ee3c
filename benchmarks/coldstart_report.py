"""benchmarks/coldstart.py report: coldstart.json and the markdown tables of docs/benchmarks.md
from the per-dataset result files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genrec.io import read_json, write_json

EPS = (0.1, 0.2)


def report() -> None:
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
             ("content_only", "genrec, content only"), ("knn_gated", "content-KNN, same rule"),
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
           "only) | beam-only in-catalogue change | shipped (no cap) cold Recall@10 (in-catalogue "
           "change) |",
           "|---|---|---|---|---|"]
    for name, b in blocks.items():
        g = b.get("test", {}).get("generation")
        if g:
            gen.append(f"| {name} | {g['beam_only_recall@20_new']:.4f} | "
                       f"{g['knn_recall@20_new']:.4f} | "
                       f"{g['beam_only_in_catalogue_change']:+.1%} | {g['recall@10']:.4f} "
                       f"({g['in_catalogue_change']:+.1%}) |")
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
