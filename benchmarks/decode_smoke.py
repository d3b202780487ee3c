"""Smoke benchmark for genrec.decode: build cost and per-call beam_search cost vs catalogue size.

    python benchmarks/decode_smoke.py [--sizes 10000 1000000] [--threads 1] [--repeat 5]

Codes: 3 random levels of 256 plus a disambiguation level (TIGER layout), level sizes 256.
The step is cheap (seeded random logits), so the reported search overhead is an upper bound on
the constraint's share next to a real model. Build memory: peak RSS growth of this process.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from genrec.decode import ConstraintIndex, beam_search


def tiger_codes(n: int, seed: int = 0) -> np.ndarray:
    """int64 [n, 4]: 3 random tokens in [0, 256) + a 0, 1, 2, ... disambiguation token."""
    raw = np.random.default_rng(seed).integers(0, 256, size=(n, 3))
    key = (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]
    order = np.argsort(key, kind="stable")
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    disamb = np.empty(n, dtype=np.int64)
    disamb[order] = np.arange(n) - start
    return np.column_stack([raw, disamb])


def time_decode(index: ConstraintIndex, batch: int, beam: int, k: int, repeat: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    step_seconds = [0.0]

    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        t0 = time.perf_counter()
        out = torch.randn(*prefix.shape[:2], index.level_sizes[level], generator=gen)
        step_seconds[0] += time.perf_counter() - t0
        return out

    exclude = [list(range(u, u + 50)) for u in range(batch)]  # 50 history items per user
    out = {}
    for name, kwargs in [("constrained", {"exclude": exclude}), ("unconstrained", {})]:
        constrained = name == "constrained"
        beam_search(step, batch, index, beam, k, constrained=constrained, **kwargs)  # warm-up
        best, best_step = float("inf"), 0.0
        for _ in range(repeat):
            step_seconds[0] = 0.0
            t0 = time.perf_counter()
            beam_search(step, batch, index, beam, k, constrained=constrained, **kwargs)
            total = time.perf_counter() - t0
            if total < best:
                best, best_step = total, step_seconds[0]
        out[name] = (best, best_step)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for n in args.sizes:
        codes = tiger_codes(n)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        index = ConstraintIndex.build(codes, [256] * 4)
        build = time.perf_counter() - t0
        rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 2**10
        print(
            f"N={n:>10,}  build {build:6.2f} s  peak RSS +{rss:7.0f} MiB  "
            f"nbytes {index.nbytes / 2**20:7.1f} MiB  max_children {index.max_children}"
        )
        for name, (total, step) in time_decode(
            index, args.batch, args.beam, args.k, args.repeat
        ).items():
            print(
                f"    {name:<13} beam_search {total * 1e3:7.1f} ms  "
                f"(step {step * 1e3:6.1f} ms, search {(total - step) * 1e3:6.1f} ms)"
            )


if __name__ == "__main__":
    main()
