"""Catalogue scaling: constrained decoding vs exact dense top-K as the item count grows.

    python benchmarks/scaling.py [--sizes 10000 100000 1000000 10000000] [--threads 1]

Per N: synthetic codes (3 uniform levels of 256 + a disambiguation level, level sizes fixed at
256 so that one model serves every N), ConstraintIndex.build time, table bytes and peak build
memory (tracemalloc, which sees numpy's buffers); then, for one batch of 64 users:
  decode_seconds  beam_search (beam 20, top-10) driven by a TIGER-size genrec decoder
                  (CachedStep) over the same encoded histories for every N: a fixed-cost step
                  (the encoder runs once, outside the timing);
  search_seconds  the same search replaying that model's logits: the search's own cost
                  (trie expansion + top-k), no model;
  dense_seconds   exact top-10 by dot product over N random item vectors (d = 128, float32),
                  in chunks of 1M rows (torch.topk per chunk, then merged): the brute-force
                  retrieval that generative retrieval replaces.
  shipped_seconds, exact_seconds, faiss_seconds, faiss_recall@10: the shipped configuration
                  end to end (encoder, decoder, item-aware leaves, re-scoring) beside exact
                  and faiss IVF retrieval over its item vectors (benchmarks/scaling_shipped.py);
                  shipped_ratio_to_smallest: its time over the smallest size's, timed in
                  turns (the scaling bar: <= 1.5 at 10M).
Times are wall-clock medians after a warm-up: --repeat builds and dense runs, --rounds decode
rounds in which the sizes take turns (`*_cpu`: process CPU time, which other jobs on a shared
machine disturb less). Writes benchmarks/results/scaling.json and scaling.png (time vs N, with
the crossing of decode and dense).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genrec.decode import ConstraintIndex, beam_search
from genrec.io import progress, write_json
from genrec.model import TIGER_PRESET, GenerativeRecommender, ModelConfig
from genrec.model.incremental import CachedStep

sys.path.insert(0, str(Path(__file__).parent))
from common import hardware, median_seconds, tiger_codes, timed  # noqa: E402
from scaling_shipped import measure as measure_shipped  # noqa: E402
from scaling_shipped import shipped_call  # noqa: E402

LEVEL_SIZES = [256, 256, 256, 256]
DENSE_CHUNK = 1_000_000


def main() -> None:
    args = _parse()
    args.sizes = sorted(set(args.sizes))  # the first is the smallest: the paired reference
    args.rounds = max(1, args.rounds)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    decoder = _Decoder(args.batch, args.history)
    load_start = hardware()["load_average_1min"]
    indexes, rows = {}, []
    for n in progress(args.sizes, desc="build"):
        indexes[n], row = _build(n, args)
        rows.append(row)
    for row, timing in zip(rows, _decode_times(indexes, decoder, args), strict=True):
        row |= timing
    indexes.clear()  # free the tables before the dense matrices
    gc.collect()
    for row in progress(rows, desc="dense"):
        row["dense_seconds"] = _dense_seconds(row["n_items"], args)
        gc.collect()
    if not args.skip_shipped:
        smallest, _, _ = shipped_call(tiger_codes(rows[0]["n_items"]), args.batch, args.history)
        for row in progress(rows, desc="shipped + faiss"):
            row |= measure_shipped(tiger_codes(row["n_items"]), args.batch, args.history,
                                   args.repeat, 3 * args.rounds, smallest)
            gc.collect()
    report = {
        "command": " ".join(["python benchmarks/scaling.py", *sys.argv[1:]]),
        "hardware": hardware() | {"load_average_1min_start": load_start},
        "setup": {"batch": args.batch, "beam": args.beam, "k": args.k, "dim": args.dim,
                  "level_sizes": LEVEL_SIZES, "repeat": args.repeat, "rounds": args.rounds,
                  "shipped_rounds": 3 * args.rounds,  # each 3 calls, paired with the smallest's
                  "model": "genrec TIGER_PRESET decoder, random weights"},
        "sizes": rows,
        **_ratios(rows),
        "crossing": _crossing(rows),
    }
    write_json(Path(args.out_dir) / "scaling.json", report)
    _plot(rows, report["crossing"], Path(args.out_dir) / "scaling.png")
    print(_table(rows, report))


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+",
                    default=[10_000, 100_000, 1_000_000, 10_000_000])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--dim", type=int, default=128, help="dense baseline vector size")
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5, help="timed builds and dense runs")
    ap.add_argument("--rounds", type=int, default=10, help="timed decode rounds (all sizes)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--skip-shipped", action="store_true", help="no shipped/faiss rows")
    return ap.parse_args()


class _Decoder:
    """A TIGER-size genrec model with a fixed batch of encoded random histories: its step
    costs the same whatever the catalogue (histories are drawn from a 10k-item codebook)."""

    def __init__(self, batch: int, history: int) -> None:
        cfg = ModelConfig(level_sizes=LEVEL_SIZES, **TIGER_PRESET)
        self.model = GenerativeRecommender(cfg).eval()
        gen = torch.Generator().manual_seed(1)
        codes = torch.randint(0, 256, (batch, history, len(LEVEL_SIZES)), generator=gen)
        items = torch.arange(batch * history).view(batch, history)
        with torch.no_grad():
            self.mem, self.mem_pos = self.model.encode(items, codes)
        self.batch = batch

    def step(self) -> CachedStep:
        return CachedStep(self.model, self.mem, self.mem_pos)


def _build(n: int, args: argparse.Namespace) -> tuple[ConstraintIndex, dict[str, Any]]:
    """The index of n synthetic items, its build time, table bytes and peak build memory."""
    codes = tiger_codes(n)
    build, index = _timed_build(codes, 1 if n >= 10**7 else args.repeat)
    return index, {"n_items": n, "build_seconds": build, "index_bytes": index.nbytes,
                   "build_peak_bytes": _build_peak_bytes(codes),
                   "max_children": index.max_children,
                   "candidates_per_user": _candidates(index, args.beam)}


def _decode_times(indexes: dict[int, ConstraintIndex], decoder: _Decoder,
                  args: argparse.Namespace) -> list[dict[str, float]]:
    """Median decode (model-driven) and search-only (replayed logits) seconds per size, wall
    and process CPU; sizes take turns in every round so that load from other jobs hits them
    alike (CPU time is what such load disturbs least)."""
    calls = {n: {"decode_seconds": _decode_call(decoder, index, args.beam, args.k),
                 "search_seconds": _search_call(decoder, index, args.beam, args.k)}
             for n, index in indexes.items()}
    times = {n: {f"{key}{cpu}": [] for key in c for cpu in ("", "_cpu")}
             for n, c in calls.items()}
    for r in progress(range(args.rounds + 1), desc="decode rounds"):
        for n, c in calls.items():
            for key, fn in c.items():
                for _ in range(1 if key == "decode_seconds" else 4):
                    wall, cpu = timed(fn)
                    if r:  # round 0 warms up
                        times[n][key].append(wall)
                        times[n][f"{key}_cpu"].append(cpu)
    return [{key: round(float(np.median(v)), 5) for key, v in times[n].items()} for n in calls]


def _decode_call(decoder: _Decoder, index: ConstraintIndex, beam: int, k: int
                 ) -> Callable[[], object]:
    return lambda: beam_search(decoder.step(), decoder.batch, index, beam, k)


def _search_call(decoder: _Decoder, index: ConstraintIndex, beam: int, k: int
                 ) -> Callable[[], object]:
    logits = _recorded_logits(decoder, index, beam, k)
    return lambda: beam_search(lambda _p, lvl: logits[lvl], decoder.batch, index, beam, k)


def _candidates(index: ConstraintIndex, beam: int) -> int:
    """Candidate slots one user's search scores: beams x (V if dense else max children), per
    level. The search's work is proportional to it; N enters only through the branching."""
    total, width = 0, 1
    for lvl, size in enumerate(index.level_sizes):
        total += width * (size if index.dense[lvl] is not None else index.max_children[lvl])
        width = beam
    return total


def _timed_build(codes: np.ndarray, repeat: int) -> tuple[float, ConstraintIndex]:
    """Median wall seconds of `repeat` builds (numpy only: no warm-up needed), and the index."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        index = ConstraintIndex.build(codes, LEVEL_SIZES)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)), 4), index


def _build_peak_bytes(codes: np.ndarray) -> int:
    """Peak memory allocated while building (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        ConstraintIndex.build(codes, LEVEL_SIZES)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _recorded_logits(decoder: _Decoder, index: ConstraintIndex, beam: int, k: int
                     ) -> list[torch.Tensor]:
    """The logits the model produced at each level of one search, replayed at zero cost."""
    step, seen = decoder.step(), []

    def record(prefix: torch.Tensor, lvl: int) -> torch.Tensor:
        seen.append(step(prefix, lvl))
        return seen[-1]

    beam_search(record, decoder.batch, index, beam, k)
    return seen


def _dense_seconds(n: int, args: argparse.Namespace) -> float:
    """Exact top-k over n random float32 vectors for a batch of queries, chunked so that the
    score matrix stays [batch, 1M]; the vectors are made before timing."""
    gen = torch.Generator().manual_seed(2)
    items = [torch.randn(min(DENSE_CHUNK, n - lo), args.dim, generator=gen)
             for lo in range(0, n, DENSE_CHUNK)]
    queries = torch.randn(args.batch, args.dim, generator=gen)
    return median_seconds(lambda: _dense_topk(queries, items, args.k), args.repeat)


def _dense_topk(queries: torch.Tensor, chunks: list[torch.Tensor], k: int) -> torch.Tensor:
    """Item ids int64 [B, k] of the k largest dot products, merged over chunks."""
    best_s, best_i, offset = [], [], 0
    for chunk in chunks:
        s, i = torch.topk(queries @ chunk.T, min(k, len(chunk)), dim=1)
        best_s.append(s)
        best_i.append(i + offset)
        offset += len(chunk)
    s, pos = torch.topk(torch.cat(best_s, 1), k, dim=1)
    return torch.cat(best_i, 1).gather(1, pos)


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Largest over smallest catalogue, per time (the decode bar: <= 1.2)."""
    lo, hi = rows[0], rows[-1]
    return {f"{key}_ratio_{hi['n_items']}_vs_{lo['n_items']}":
            round(hi[key] / lo[key], 3) for key in ("decode_seconds", "decode_seconds_cpu",
                                                    "search_seconds", "search_seconds_cpu",
                                                    "dense_seconds", "shipped_seconds",
                                                    "exact_seconds", "faiss_seconds")
            if key in hi} | ({f"shipped_paired_ratio_{hi['n_items']}_vs_{lo['n_items']}":
                             hi["shipped_ratio_to_smallest"]}
                            if "shipped_ratio_to_smallest" in hi else {})


def _crossing(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """N where dense top-K becomes slower than decoding, for the model-driven decode and for
    the search alone: log-log interpolation between measured sizes, or, outside them, dense
    extrapolated as linear in N from the nearest measurement."""
    return {key: _cross_n(rows, key) for key in ("decode_seconds", "search_seconds")}


def _cross_n(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    n = np.log([r["n_items"] for r in rows])
    gap = np.log([r["dense_seconds"] for r in rows]) - np.log([r[key] for r in rows])
    for i in range(len(rows) - 1):
        if gap[i] <= 0 < gap[i + 1]:
            t = -gap[i] / (gap[i + 1] - gap[i])
            return {"n_items": int(round(float(np.exp(n[i] + t * (n[i + 1] - n[i]))))),
                    "how": "interpolated"}
    ref = rows[-1] if gap[-1] <= 0 else rows[0]  # dense ~ linear in N beyond the data
    return {"n_items": int(round(ref["n_items"] * ref[key] / ref["dense_seconds"])),
            "how": "extrapolated (dense linear in N)"}


def _plot(rows: list[dict[str, Any]], crossing: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n_items"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(n, [r["decode_seconds"] for r in rows], "o-", label="genrec decode (model + trie)")
    ax.plot(n, [r["search_seconds"] for r in rows], "s--", label="trie beam search alone")
    ax.plot(n, [r["dense_seconds"] for r in rows], "^-", label="exact dense top-10, d=128")
    ax.plot(n, [r["build_seconds"] for r in rows], "x:", label="index build (once)")
    if "shipped_seconds" in rows[0]:
        ax.plot(n, [r["shipped_seconds"] for r in rows], "D-",
                label="shipped: encoder + decode + leaves + re-score")
        ax.plot(n, [r["faiss_seconds"] for r in rows], "v--", label="faiss IVF (nprobe 16)")
    cross = crossing["decode_seconds"]["n_items"]
    ax.axvline(cross, color="grey", lw=0.8)
    ax.text(cross * 1.1, 0.03, f"dense = decode\nat N ~ {cross:,}", fontsize=8,
            transform=ax.get_xaxis_transform())  # x in data, y in axes fraction
    ax.set(xscale="log", yscale="log", xlabel="items N",
           ylabel="seconds per batch of 64 users", title="Catalogue scaling (CPU, 1 thread)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(rows: list[dict[str, Any]], report: dict[str, Any]) -> str:
    head = (f"{'N':>11} {'build s':>8} {'index MB':>9} {'peak MB':>8} {'decode s':>9} "
            f"{'(cpu)':>6} {'search ms':>10} {'(cpu)':>6} {'dense s':>8}")
    lines = [head]
    for r in rows:
        lines.append(f"{r['n_items']:>11,} {r['build_seconds']:>8.2f} "
                     f"{r['index_bytes'] / 2**20:>9.1f} {r['build_peak_bytes'] / 2**20:>8.0f} "
                     f"{r['decode_seconds']:>9.3f} {r['decode_seconds_cpu']:>6.3f} "
                     f"{1e3 * r['search_seconds']:>10.1f} {1e3 * r['search_seconds_cpu']:>6.1f} "
                     f"{r['dense_seconds']:>8.3f}")
    lines += [f"{k}: {v}" for k, v in report.items() if "_ratio_" in k]
    lines.append(f"crossing: {report['crossing']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
