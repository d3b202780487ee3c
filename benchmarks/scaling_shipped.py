"""The shipped configuration's per-batch cost against N, beside exact and faiss retrieval over
the same item vectors (imported by scaling.py; one size at a time to bound memory).

Per N the model (the default architecture: item-level causal encoder, 2 + 2 layers, d = 128,
an item head; random weights) gets synthetic codes of 3 levels of 256 + a disambiguation
level and the default rules `leaf_cap = 512`: the decoder generates the fewest levels whose
prefixes hold at most 512 items each (1 level up to ~100k items, 2 beyond), and `leaf_budget =
2048` (the ModelConfig default): the last generated level's prefixes open best first while
their items add up to <= 2048, and every opened item is ranked by beam score + item_weight *
head logit (item_weight 1 here; the weight does not change the work). Built once per model
(timed apart): the trie and the item table [N, d].
With 2 generated levels the first keeps `prefix_beam` beams (the ModelConfig default, chosen
by benchmarks/prefix_beam.py), each of which the second level's decoder step runs on.
Timed per batch of 64 users (shipped: `rounds` rounds of 3 calls, each round's median paired
with a round of the smallest catalogue's calls, since the 10k time alone drifted by 1.5x
between and within runs on one idle machine):
  shipped_seconds  encoder + decoder levels + item-aware leaves re-scored by the head
                   (Recommender.recommend, item_weight 1): reads only opened items' vectors;
                   the median over rounds;
  shipped_ratio_to_smallest  the median over rounds of this size's time over the smallest
                   catalogue's time in the same round: the scaling bar's reading;
  exact_seconds    the head's exact top-10: every item's dot product with the 64 states;
  faiss_seconds    faiss IVF-Flat (inner product, nlist = min(4 sqrt N, 1024), nprobe 16)
                   over the same table; faiss_recall@10 is its overlap with the exact top-10.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from common import median_seconds

from genrec.decode import ConstraintIndex
from genrec.model import GenerativeRecommender, ModelConfig
from genrec.model.recommender import Recommender
from genrec.semantic_ids import SemanticIndex

LEVELS = [256, 256, 256, 256]
NPROBE = 16
LEAF_CAP = 512  # as configs/beauty.toml


def shipped_model(n_items: int, generated_levels: int) -> GenerativeRecommender:
    cfg = ModelConfig(level_sizes=LEVELS, n_items=n_items, d_model=128, n_heads=4, d_ff=512,
                      encoder_layers=2, decoder_layers=2, max_items=20, item_loss=1.0,
                      generated_levels=generated_levels)
    torch.manual_seed(0)
    return GenerativeRecommender(cfg).eval()


def shipped_recommender(codes: np.ndarray) -> Recommender:
    """The shipped configuration over synthetic codes [N, L] (its model's generated_levels set
    by the leaf cap)."""
    index = SemanticIndex(method="synthetic", codes=codes, level_sizes=LEVELS, item_ids=[],
                          codebook_size=256)
    levels = ConstraintIndex.build(codes, LEVELS).prefix_levels(LEAF_CAP)
    return Recommender(shipped_model(len(codes), levels), index, beam=20, item_weight=1.0)


def user_batch(n_items: int, batch: int, history: int) -> tuple[list[np.ndarray], list[list[int]]]:
    """`batch` fixed random histories over the first 10k items, and the same as exclusions."""
    gen = np.random.default_rng(3)
    hists = [gen.integers(0, min(n_items, 10_000), history) for _ in range(batch)]
    return hists, [h.tolist() for h in hists]


def shipped_call(codes: np.ndarray, batch: int, history: int
                 ) -> tuple[Callable[[], object], Recommender, list[np.ndarray]]:
    """One timed unit: the shipped recommend for a fixed batch over codes [N, L], with its
    recommender and the batch's histories."""
    rec = shipped_recommender(codes)  # trie, item table
    hists, excl = user_batch(len(codes), batch, history)
    return lambda: rec.recommend(hists, 10, exclude=excl), rec, hists


def measure(codes: np.ndarray, batch: int, history: int, repeat: int, rounds: int,
            smallest: Callable[[], object]) -> dict[str, Any]:
    """One catalogue size: build times and per-batch medians (see module docstring);
    `smallest`: the smallest catalogue's shipped call, timed in turns with this one."""
    import faiss

    t0 = time.perf_counter()
    call, rec, hists = shipped_call(codes, batch, history)
    model_seconds = time.perf_counter() - t0
    levels = rec.model.cfg.generated_levels
    times, ratios = [], []
    for _ in range(rounds):
        ref = median_seconds(smallest, 3)
        times.append(median_seconds(call, 3))
        ratios.append(times[-1] / ref)
    shipped = round(float(np.median(times)), 5)
    with torch.no_grad():
        mem, mem_pos = rec._encode(hists)
        states = rec.model.last_state(mem, mem_pos)  # [B, d] the head's queries
    table = rec.vectors  # [N, d] in trie order: exact and faiss ids are rows, compared alike
    assert table is not None
    exact_ids = _exact_topk(states, table, 10)
    exact = median_seconds(lambda: _exact_topk(states, table, 10), repeat)
    t0 = time.perf_counter()
    ivf = _ivf(table.numpy(), faiss)
    faiss_build = time.perf_counter() - t0
    queries = states.numpy().astype(np.float32)
    faiss_seconds = median_seconds(lambda: ivf.search(queries, 10), repeat)
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(),
                                                                exact_ids.tolist(), strict=True)])
    return {"shipped_seconds": shipped,
            "shipped_ratio_to_smallest": round(float(np.median(ratios)), 3),
            "exact_seconds": exact, "faiss_seconds": faiss_seconds,
            "faiss_recall@10": round(float(recall), 4),
            "model_build_seconds": round(model_seconds, 2),
            "faiss_build_seconds": round(faiss_build, 2), "faiss_nlist": ivf.nlist,
            "generated_levels": levels,
            "leaves_per_prefix_max": rec.constraint.max_leaves[levels - 1],
            "leaf_budget": rec.leaf_budget, "prefix_beam": rec.prefix_beam}


def _ivf(vectors: np.ndarray, faiss: Any) -> Any:
    n, d = vectors.shape
    nlist = int(min(4 * np.sqrt(n), 1024))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(4).choice(n, min(n, 64 * nlist), replace=False)]
    ivf.train(np.ascontiguousarray(sample))
    for lo in range(0, n, 1 << 20):
        ivf.add(np.ascontiguousarray(vectors[lo : lo + (1 << 20)]))
    ivf.nprobe = NPROBE
    return ivf


def _exact_topk(states: torch.Tensor, table: torch.Tensor, k: int) -> torch.Tensor:
    """Exact top-k ids [B, k] over the whole table, in chunks of 1M rows."""
    best_s, best_i = [], []
    for lo in range(0, len(table), 1 << 20):
        s, i = torch.topk(states @ table[lo : lo + (1 << 20)].T, k, dim=1)
        best_s.append(s)
        best_i.append(i + lo)
    _, pos = torch.topk(torch.cat(best_s, 1), k, dim=1)
    return torch.cat(best_i, 1).gather(1, pos)
