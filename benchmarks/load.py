"""Load test of `genrec serve`: N concurrent clients posting real histories to /recommend.

    python benchmarks/load.py --run runs/beauty --data-dir ../shared/data

Starts the service itself on a free loopback port (over a copy of the run's serving files, so
the run folder is never touched), replays test-split histories of the run's dataset with 1, 8
and 32 concurrent clients (each sends its next request as soon as the last one is answered),
and writes benchmarks/results/load.json: requests/s, p50/p99 latency and errors per level, the
top-level numbers being those of the largest level. Bounded: --seconds per level plus start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from genrec.io import read_json, write_json
from genrec.serve.launch import free_port, start_service

SERVING_FILES = ("config.json", "items.json", "model.json", "model.safetensors", "index",
                 "catalog.sqlite")


def histories(run: Path, data_dir: str | None, n: int, seed: int) -> tuple[list[list[str]], str]:
    """`n` test-split histories (external ids) of the run's dataset, or random ones without it."""
    from genrec.run import RunConfig, load_run_dataset

    rng = random.Random(seed)
    ids = [str(it["id"]) for it in read_json(run / "items.json")]
    known = set(ids)
    try:
        ds = load_run_dataset(RunConfig.from_dict(read_json(run / "config.json")), data_dir)
        split = ds.split()
        users = rng.sample(range(ds.n_users), min(n, ds.n_users))
        out = [[ds.item_ids[i] for i in split.test_history[u] if ds.item_ids[i] in known]
               for u in users]
        if sum(map(bool, out)) >= len(out) // 2:  # else the run holds another catalogue
            return [h for h in out if h], "test split"
    except Exception as err:  # no data here
        print(f"no dataset ({err})", file=sys.stderr)
    print("using random histories of the run's items", file=sys.stderr)
    return [rng.sample(ids, rng.randint(1, 20)) for _ in range(n)], "random"


def model_note(run: Path) -> str:
    """Which model served: speed depends on its shape (model.json), not on its weights."""
    cfg = read_json(run / "model.json")
    shape = (f"d_model {cfg['d_model']}, {cfg['encoder_layers']}+{cfg['decoder_layers']} layers, "
             f"levels {cfg['level_sizes']}, window {cfg['max_items']}")
    history = run / "history.json"
    if history.exists() and (rows := read_json(history)):
        shape += f"; best of {rows[-1]['epoch']} epochs so far"
    return shape


def copy_run(run: Path, to: Path) -> Path:
    to.mkdir(parents=True)
    for name in SERVING_FILES:
        src = run / name
        if src.is_dir():
            shutil.copytree(src, to / name)
        elif src.exists():
            shutil.copy2(src, to / name)
    return to


class Connection:
    """A bare keep-alive HTTP/1.1 client connection: one write per request (no Nagle stall
    between headers and body) and little CPU, so the clients do not starve the service."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
        self.writer.write(head + data)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def drive(port: int, hist: list[list[str]], clients: int, seconds: float, warmup: float,
                k: int) -> dict[str, Any]:
    """`clients` closed-loop clients for warmup + seconds; stats over the measured part."""
    latencies: list[float] = []
    errors = 0
    before: dict[str, Any] = {}
    t0 = time.perf_counter()
    measure_from, stop_at = t0 + warmup, t0 + warmup + seconds

    async def client(c: int) -> None:
        nonlocal errors
        conn, i = await Connection.open(port), c
        while (start := time.perf_counter()) < stop_at:
            try:
                status, _ = await asyncio.wait_for(
                    conn.request("POST", "/recommend", {"history": hist[i % len(hist)], "k": k}),
                    timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
                conn.close()
                conn = await Connection.open(port)
            i += clients
            if start >= measure_from:
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        conn.close()

    async def counters_at_start() -> None:  # the service's batching counters
        await asyncio.sleep(warmup)
        conn = await Connection.open(port)
        before.update(json.loads((await conn.request("GET", "/health"))[1]))
        conn.close()

    await asyncio.gather(counters_at_start(), *(client(c) for c in range(clients)))
    elapsed = max(time.perf_counter(), stop_at) - measure_from
    after = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    batches = max(after["batches"] - before.get("batches", 0), 1)
    decode_ms = (after["decode_ms"] * after["batches"]
                 - before.get("decode_ms", 0) * before.get("batches", 0)) / batches
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"),) * 2
    return {"clients": clients, "requests": len(latencies),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(1e3 * float(p50), 1),
            "p99_ms": round(1e3 * float(p99), 1), "errors": errors,
            "mean_batch": round((after["requests"] - before.get("requests", 0)) / batches, 1),
            "decode_ms": round(decode_ms, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("GENREC_DATA"))
    ap.add_argument("--clients", default="1,8,32", help="comma-separated concurrency levels")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per level")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per level")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="the service's torch threads")
    ap.add_argument("--workers", type=int, default=1, help="the service's decode workers")
    ap.add_argument("--beam", type=int, default=None, help="the service's beam [the run's]")
    ap.add_argument("--max-wait-ms", type=float, default=None,
                    help="the service's batch gathering time [its default]")
    ap.add_argument("--users", type=int, default=2000, help="distinct histories replayed")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/load.json"))
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    load_start = os.getloadavg()[0]
    hist, source = histories(args.run, args.data_dir, args.users, seed=0)
    with tempfile.TemporaryDirectory(prefix="genrec-load-") as tmp:
        served = copy_run(args.run, Path(tmp) / "run")
        port = free_port()
        t = time.perf_counter()
        extra = ["--workers", str(args.workers)] + (["--beam", str(args.beam)] if args.beam else [])
        if args.max_wait_ms is not None:
            extra += ["--max-wait-ms", str(args.max_wait_ms)]
        proc = start_service(served, port, args.threads, tuple(extra),
                             env={"GENREC_DATA": args.data_dir} if args.data_dir else None)
        startup = time.perf_counter() - t
        try:
            results = [asyncio.run(drive(port, hist, c, args.seconds, args.warmup, args.k))
                       for c in levels]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    for r in results:
        print(f"{r['clients']:>3} clients: {r['rps']:>7.1f} req/s  p50 {r['p50_ms']:>6.1f} ms  "
              f"p99 {r['p99_ms']:>6.1f} ms  errors {r['errors']}  mean batch "
              f"{r['mean_batch']}, {r['decode_ms']} ms per decode")
    top = results[-1]
    write_json(args.out, {
        "rps": top["rps"], "p50_ms": top["p50_ms"], "p99_ms": top["p99_ms"],
        "errors": top["errors"], "clients": top["clients"], "levels": results,
        "run": str(args.run), "model": model_note(args.run), "k": args.k,
        "histories": f"{len(hist)} from the {source}",
        "service_threads": args.threads, "service_workers": args.workers,
        "beam": args.beam or "the run's", "startup_s": round(startup, 1),
        "seconds_per_level": args.seconds, "command": "python " + " ".join(sys.argv),
        "hardware": f"{platform.machine()}, {os.cpu_count()} cores, CPU only; 1-min load "
                    f"average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                    "(other jobs included)",
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
