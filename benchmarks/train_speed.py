"""Training throughput (targets/s) of model layouts on Beauty, same index, same CPU.

    python benchmarks/train_speed.py --data-dir ../shared/data [--steps 30]

Compares the TIGER preset (token-level bidirectional encoder, one target per example) with
genrec's default (item-level causal encoder, every next item of a window trained at once).
Writes benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genrec.data import load_dataset
from genrec.io import write_json
from genrec.model import TIGER_PRESET, GenerativeRecommender, ModelConfig, flops_per_target
from genrec.model.batches import causal_windows, iterate_batches, prefix_examples
from genrec.semantic_ids import IndexConfig, build_index

LAYOUTS = {
    "tiger_preset": dict(TIGER_PRESET),
    "genrec_default": dict(d_model=128, n_heads=4, d_ff=512, encoder_layers=2, decoder_layers=2,
                           item_embeddings=True),
}


def throughput(cfg: ModelConfig, train: list, codes: torch.Tensor, steps: int, batch: int
               ) -> float:
    model = GenerativeRecommender(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    make = causal_windows if cfg.causal else prefix_examples
    windows, owners = make(train, cfg.max_items)
    batches = iterate_batches(windows, owners, codes, cfg.causal, batch, torch.Generator())
    seen, start = 0, 0.0
    for i, b in enumerate(batches):
        if i == 3:  # warm-up steps excluded
            seen, start = 0, time.perf_counter()
        loss = model.loss(b.items, b.codes, b.tgt_pos, b.tgt_codes, b.tgt_valid, b.users)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += b.n_targets
        if i == steps + 3:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    ds = load_dataset("amazon2014-beauty", args.data_dir)
    index = build_index(IndexConfig(method="random"), ds.item_ids)  # codes' values don't matter
    codes = torch.from_numpy(index.codes)
    rows = {}
    for name, layout in LAYOUTS.items():
        cfg = ModelConfig(level_sizes=index.level_sizes, n_items=ds.n_items, **layout)
        batch = 256 if cfg.causal else 256 * 6  # ~ the same number of targets per step
        tps = throughput(cfg, ds.split().train, codes, args.steps, batch)
        rows[name] = {"targets_per_s": round(tps, 1),
                      "params": GenerativeRecommender(cfg).n_params(),
                      "train_flops_per_target": 3 * flops_per_target(cfg),
                      "epoch_minutes_beauty": round(131_413 / tps / 60, 2)}
        print(name, rows[name], flush=True)
    write_json(Path("benchmarks/results/train_speed.json"), {
        "command": "python benchmarks/train_speed.py --data-dir ../shared/data",
        "torch_threads": torch.get_num_threads(), "layouts": rows})


if __name__ == "__main__":
    main()
