"""Semantic-ID statistics for every scheme on a dataset, plus the cold embedding time.

    python benchmarks/semantic_ids.py --data-dir ../shared/data [--dataset amazon2014-beauty]

Writes benchmarks/results/semantic_ids_<dataset>.json and one index folder per scheme under
--out (default runs/semantic_ids). The cold embedding uses an empty cache folder, so the first
line measures MiniLM on the whole catalogue; the schemes then read the warm cache.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from genrec.api import make_index
from genrec.data import load_dataset
from genrec.embed import embed_texts, item_text
from genrec.io import write_json
from genrec.semantic_ids import IndexConfig

SCHEMES = [("rqvae", False), ("rqvae", True), ("rkmeans", False), ("rkmeans", True),
           ("hkmeans", False), ("title", False), ("random", False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="amazon2014-beauty")
    ap.add_argument("--out", default="runs/semantic_ids")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ds = load_dataset(args.dataset, args.data_dir)
    texts = [item_text(r) for r in ds.items]
    with tempfile.TemporaryDirectory() as cold:
        start = time.perf_counter()
        embed_texts(texts, cache_dir=Path(cold))
        cold_seconds = time.perf_counter() - start
    embed_texts(texts)  # fill the default cache the schemes read
    rows = []
    for method, balance in SCHEMES:
        name = f"{method}{'-balance' if balance else ''}"
        start = time.perf_counter()
        index = make_index(ds, IndexConfig(method=method, balance=balance, seed=args.seed),
                           Path(args.out) / name)
        summary = {k: v for k, v in index.summary().items()
                   if k not in ("config", "items_per_code_hist")}
        rows.append({"scheme": name, **summary,
                     "wall_seconds": round(time.perf_counter() - start, 1)})
        print(rows[-1], flush=True)
    write_json(Path("benchmarks/results") / f"semantic_ids_{args.dataset}.json", {
        "dataset": args.dataset, "n_items": ds.n_items,
        "cold_embedding_seconds": round(cold_seconds, 1),
        "hardware": f"{platform.processor() or platform.machine()}, 2 CPU cores",
        "command": "python benchmarks/semantic_ids.py --data-dir ../shared/data",
        "schemes": rows,
    })


if __name__ == "__main__":
    main()
