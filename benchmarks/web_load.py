"""Latency of the web page's JSON: GET /items?q= (search) and GET /tree (hierarchy).

    python benchmarks/web_load.py --run runs/beauty --data-dir ../shared/data

Starts `genrec serve` on a free loopback port over a copy of the run's serving files (as
benchmarks/load.py does), then replays, with 1 and 8 closed-loop clients per endpoint, what the
page sends: search queries typed as a person types them (every prefix of a title word from one
letter on, two-word queries, brands and ids of random catalogue items) and /tree calls for the
root and random prefixes at every level. Writes benchmarks/results/web_load.json: p50/p99/max
latency, requests/s and errors per endpoint and level, and the slowest queries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from load import Connection, copy_run, model_note  # noqa: E402

from genrec.io import read_json, write_json  # noqa: E402
from genrec.semantic_ids import SemanticIndex  # noqa: E402
from genrec.serve.browse import tokens  # noqa: E402
from genrec.serve.launch import free_port, start_service  # noqa: E402


def search_queries(items: list[dict[str, Any]], n: int, rng: random.Random) -> list[str]:
    """What the search box sends while typing: each prefix of a title word, a second word,
    a brand, an id."""
    out: list[str] = []
    while len(out) < n:
        item = rng.choice(items)
        words = tokens(item.get("title") or "")
        if not words:
            continue
        word = rng.choice(words)
        out += [word[:i] for i in range(1, len(word) + 1)]  # typing, one keystroke at a time
        if len(words) > 1:
            out.append(" ".join(words[:2]))
        if item.get("brand"):
            out.append(str(item["brand"]))
        out.append(str(item["id"]))
    return out[:n]


def tree_prefixes(codes: np.ndarray, n: int, rng: random.Random) -> list[str]:
    """The root and random real prefixes of every depth that has children (1 .. levels-1)."""
    out = [""]
    while len(out) < n:
        row = codes[rng.randrange(len(codes))]
        depth = rng.randrange(0, codes.shape[1])
        out.append(",".join(map(str, row[:depth].tolist())))
    return out


async def drive(port: int, paths: list[str], clients: int, seconds: float, warmup: float
                ) -> dict[str, Any]:
    latencies: list[tuple[float, str]] = []
    errors = 0
    t0 = time.perf_counter()
    measure_from, stop_at = t0 + warmup, t0 + warmup + seconds

    async def client(c: int) -> None:
        nonlocal errors
        conn, i = await Connection.open(port), c
        while (start := time.perf_counter()) < stop_at:
            path = paths[i % len(paths)]
            try:
                status, _ = await asyncio.wait_for(conn.request("GET", path), timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
                conn.close()
                conn = await Connection.open(port)
            i += clients
            if start >= measure_from:
                latencies.append((time.perf_counter() - start, path))
                errors += status != 200
        conn.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = max(time.perf_counter(), stop_at) - measure_from
    ms = np.array([1e3 * t for t, _ in latencies])
    p50, p99 = np.percentile(ms, [50, 99])
    slowest = sorted(latencies, reverse=True)[:5]
    return {"clients": clients, "requests": len(ms), "rps": round(len(ms) / elapsed, 1),
            "p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2),
            "max_ms": round(float(ms.max()), 2), "errors": errors,
            "slowest": [{"ms": round(1e3 * t, 1), "path": p} for t, p in slowest]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("GENREC_DATA"))
    ap.add_argument("--clients", default="1,8", help="comma-separated concurrency levels")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per level")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--queries", type=int, default=3000, help="distinct requests per endpoint")
    ap.add_argument("--limit", type=int, default=20, help="search page size (the page's)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/web_load.json"))
    args = ap.parse_args()
    rng = random.Random(0)
    items = read_json(args.run / "items.json")
    codes = SemanticIndex.load(args.run / "index").codes
    search = [f"/items?q={quote(q)}&limit={args.limit}"
              for q in search_queries(items, args.queries, rng)]
    tree = [f"/tree?prefix={p}" for p in tree_prefixes(codes, args.queries, rng)]
    levels = [int(c) for c in args.clients.split(",")]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="genrec-web-") as tmp:
        served = copy_run(args.run, Path(tmp) / "run")
        port = free_port()
        proc = start_service(served, port, 1,
                             env={"GENREC_DATA": args.data_dir} if args.data_dir else None)
        try:
            results = {name: [asyncio.run(drive(port, paths, c, args.seconds, args.warmup))
                              for c in levels]
                       for name, paths in [("items_search", search), ("tree", tree)]}
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    for name, rows in results.items():
        for r in rows:
            print(f"{name:>12} {r['clients']:>2} clients: {r['rps']:>7.1f} req/s  p50 "
                  f"{r['p50_ms']:>6.2f} ms  p99 {r['p99_ms']:>6.2f} ms  max {r['max_ms']:>6.1f} "
                  f"ms  errors {r['errors']}")
    write_json(args.out, {
        "items_search_p99_ms": max(r["p99_ms"] for r in results["items_search"]),
        "tree_p99_ms": max(r["p99_ms"] for r in results["tree"]),
        "bar_p99_ms": 50, "catalogue_items": len(items), "levels": results,
        "run": str(args.run), "model": model_note(args.run), "search_limit": args.limit,
        "workload": f"{len(search)} search queries (every keystroke of a title word, two-word "
                    f"queries, brands, ids) and {len(tree)} /tree prefixes (root + random real "
                    "prefixes of every depth)",
        "seconds_per_level": args.seconds, "command": "python " + " ".join(sys.argv),
        "hardware": f"{platform.machine()}, {os.cpu_count()} cores, CPU only; 1-min load "
                    f"average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                    "(other jobs included)",
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
