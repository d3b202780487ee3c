"""Time the shipped path alone (Recommender.recommend, 64 users, the scaling benchmark's model)
at a few catalogue sizes, so two checkouts can be compared under the same conditions.

    git worktree add /tmp/old <commit>
    (cd /tmp/old && PYTHONPATH=/tmp/old OMP_NUM_THREADS=1 python benchmarks/shipped_ab.py)
    OMP_NUM_THREADS=1 python benchmarks/shipped_ab.py

Run the two one after the other (a 10M model takes ~12 GB: two at once run out of memory on a
24 GB machine), twice each, alternating, and compare like with like: on a shared machine the
spread between runs is larger than between neighbouring sizes. Prints one JSON line: per size,
`rounds` medians of `calls` calls each (after a warm-up call), and which genrec was imported.
"""

from __future__ import annotations

import argparse
import json

import torch
from common import median_seconds, tiger_codes
from scaling_shipped import shipped_call

import genrec


def shipped_seconds(n: int, calls: int, rounds: int) -> list[float]:
    """Per round, the median seconds of one batch of 64 users at n synthetic items."""
    call, _, _ = shipped_call(tiger_codes(n), 64, 20)
    return [median_seconds(call, calls) for _ in range(rounds)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 10_000_000])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {"genrec": genrec.__file__} | {
        str(n): shipped_seconds(n, args.calls, args.rounds) for n in args.sizes}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
