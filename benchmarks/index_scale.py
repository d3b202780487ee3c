"""Semantic IDs at catalogue size: residual k-means codes for 1M synthetic item vectors.

    OMP_NUM_THREADS=1 python benchmarks/index_scale.py [--items 1000000] [--dim 384]
        [--fit-sample 65536] [--workdir /tmp]

Writes N clustered (topic + facet + noise), L2-normalised float32 vectors (d=384,
MiniLM's size) to a .npy on disk chunk by chunk, then runs the library's own path for large
catalogues: build_index with method rkmeans (3 levels x 256) fitted on --fit-sample random
items and every item coded chunk by chunk from the file (NpyRows: positioned reads, no
memory map), then disambiguation and the index files. Reports seconds per phase and the
process's peak resident memory (ru_maxrss) into benchmarks/results/index_scale.json.
The vectors file is deleted after.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from genrec.chunked import CHUNK_ROWS, NpyRows, create_npy, write_rows
from genrec.io import write_json
from genrec.semantic_ids import IndexConfig, build_index
from genrec.semantic_ids.kmeans import use_gpu


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_vectors(path: Path, n: int, d: int, topics: int, seed: int) -> None:
    """Unit vectors with structure at three scales, as residual quantisation assumes: a topic,
    one of 64 facets shared by all topics, then the item's own noise."""
    rng = np.random.default_rng(seed)
    scale = np.float32(1 / np.sqrt(d))
    topic = rng.standard_normal((topics, d), dtype=np.float32) * scale
    facet = rng.standard_normal((64, d), dtype=np.float32) * (scale * np.float32(0.6))
    offset = create_npy(path, n, d)
    for lo in range(0, n, CHUNK_ROWS):
        m = min(CHUNK_ROWS, n - lo)
        a, b = rng.integers(0, topics, m), rng.integers(0, 64, m)
        x = topic[a] + facet[b]
        x += rng.standard_normal((m, d), dtype=np.float32) * (scale * np.float32(0.4))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        write_rows(path, offset, lo, x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--fit-sample", type=int, default=65_536)
    ap.add_argument("--topics", type=int, default=256)
    ap.add_argument("--workdir", type=Path, default=None, help="Where the vectors go [tmp].")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "index_scale.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="index_scale_", dir=args.workdir))
    try:
        result = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(args.out, result)
    print(result)


def run(args: argparse.Namespace, work: Path) -> dict:
    rss_start = peak_rss_mb()
    t0 = time.perf_counter()
    path = work / "vectors.npy"
    write_vectors(path, args.items, args.dim, args.topics, seed=0)
    t_gen = time.perf_counter() - t0
    rss_gen = peak_rss_mb()

    rows = NpyRows(path)
    item_ids = [str(i) for i in range(args.items)]
    cfg = IndexConfig(method="rkmeans", levels=3, codebook_size=256, fit_sample=args.fit_sample)
    t1 = time.perf_counter()
    index = build_index(cfg, item_ids, vectors=rows, out=work / "index")
    index.save(work / "index")
    t_build = time.perf_counter() - t1
    stats = index.stats
    return {
        "items": args.items, "dim": args.dim, "fit_sample": args.fit_sample,
        "chunk_rows": CHUNK_ROWS, "levels": "3 x 256 (+ disambiguation)",
        "vectors_file_gb": round(path.stat().st_size / 1e9, 2),
        "seconds": {"write_vectors": round(t_gen, 1), "fit": stats["fit_seconds"],
                    "assign": stats["assign_seconds"], "build_index_total": stats["seconds"],
                    "build_and_save": round(t_build, 1)},
        "peak_rss_mb": {"after_imports": round(rss_start), "after_write": round(rss_gen),
                        "overall": round(peak_rss_mb())},
        "codes": {"collision_rate": stats["collision_rate"], "usage": stats["usage"],
                  "max_items_per_code": stats["max_items_per_code"]},
        "machine": {"cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
                    "faiss_gpu": use_gpu(), "python": platform.python_version()},
    }


if __name__ == "__main__":
    main()
