"""The head-to-decoder distillation targets and the four readings of a Recommender."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.model import GenerativeRecommender, ModelConfig
from genrec.model.recommender import Recommender
from genrec.run import load_model
from genrec.semantic_ids import SemanticIndex


@st.composite
def distill_cases(draw: st.DrawFn):
    sizes = draw(st.lists(st.integers(2, 4), min_size=2, max_size=3))
    n_items = draw(st.integers(2, min(12, math.prod(sizes))))
    flat = draw(st.lists(st.integers(0, math.prod(sizes) - 1), min_size=n_items,
                         max_size=n_items, unique=True))
    codes = [[(f // math.prod(sizes[i + 1 :])) % v for i, v in enumerate(sizes)] for f in flat]
    n_targets = draw(st.integers(1, 4))
    tgt = draw(st.lists(st.integers(0, n_items - 1), min_size=n_targets, max_size=n_targets))
    return torch.tensor(codes), torch.tensor(tgt), sizes, draw(st.integers(0, 2**31 - 1))


@given(distill_cases())
@settings(max_examples=60, deadline=None)
def test_distill_loss_equals_prefix_sums_by_loops(case) -> None:
    codes, tgt, sizes, seed = case
    torch.manual_seed(seed)
    model = GenerativeRecommender(ModelConfig(level_sizes=sizes, n_items=len(codes), d_model=8,
                                              n_heads=2, d_ff=8, item_loss=1.0, distill=1.0))
    n_gen = len(sizes)
    logits = torch.randn(len(tgt), n_gen, model.cfg.vocab_size, dtype=torch.float64)
    teacher = torch.rand(len(tgt), len(codes), dtype=torch.float64)
    teacher = teacher / teacher.sum(-1, keepdim=True)
    got = model._distill_loss(logits, teacher, tgt, codes)
    want = 0.0
    for n, t in enumerate(tgt.tolist()):
        for lvl, size in enumerate(sizes):
            mass = [0.0] * size
            for i, row in enumerate(codes.tolist()):
                if row[:lvl] == codes[t, :lvl].tolist():  # shares the target's prefix
                    mass[row[lvl]] += float(teacher[n, i])
            off = model.cfg.offsets[lvl]
            logp = torch.log_softmax(logits[n, lvl, off : off + size], -1).tolist()
            want -= sum(m / sum(mass) * lp for m, lp in zip(mass, logp, strict=True))
    assert abs(float(got) - want / (len(tgt) * n_gen)) < 1e-9


def test_generated_levels_train_and_the_readings_agree(head_run) -> None:
    model = load_model(head_run)
    index = SemanticIndex.load(head_run / "index")
    model.cfg.generated_levels = 2  # the decoder picks 2 codes, the head picks the item
    model.cfg.distill = 1.0
    model.train()
    items = torch.tensor([[3, 17, 40, -1], [5, 6, 7, 8]])
    codes = torch.from_numpy(index.codes)
    loss = model.loss(items, codes[items.clamp(min=0)], torch.tensor([[0, 1], [2, 3]]),
                      codes[torch.tensor([[17, 40], [8, 9]])], torch.tensor([[True] * 2] * 2),
                      tgt_items=torch.tensor([[17, 40], [8, 9]]), all_codes=codes)
    loss.backward()
    assert loss.isfinite() and model.tok.weight.grad is not None
    rec = Recommender(model.eval(), index, beam=20, item_weight=0.5)
    hists = [np.array([3, 17, 40]), np.array([5])]
    excl = [h.tolist() for h in hists]
    out = rec.readings(hists, 10, exclude=excl)
    full = rec.item_log_probs(hists)
    for b, h in enumerate(hists):
        assert not set(out["shipped"][b].tolist()) & set(h.tolist())
        scores = full[b].clone()
        scores[h] = float("-inf")
        assert out["head_only"][b].tolist() == torch.topk(scores, 10).indices.tolist()
        beam = rec.recommend([hists[b]], 20, exclude=[excl[b]])
        cands = set(beam.items[0].tolist())
        assert set(out["shipped"][b].tolist()) <= cands  # re-scoring only re-orders
        share = np.mean([i in cands for i in out["head_only"][b].tolist()])
        assert abs(out["head_in_candidates"][b] - share) < 1e-6
