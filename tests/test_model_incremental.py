"""CachedStep (the cached inference decoder) against the full re-decoding of every prefix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.decode import ConstraintIndex, beam_search
from genrec.model import GenerativeRecommender, ModelConfig
from genrec.model.incremental import CachedStep
from genrec.model.model import PAD_POS

SIZES = [16, 16, 16, 3]


def _model(**kw) -> GenerativeRecommender:
    torch.manual_seed(0)
    cfg = ModelConfig(level_sizes=SIZES, n_items=50, **({"d_model": 32, "n_heads": 2,
                                                         "d_ff": 64, "max_items": 8} | kw))
    return GenerativeRecommender(cfg).eval()


def _memory(model: GenerativeRecommender, users: bool, padded: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    items = torch.randint(0, 50, (3, 6), generator=g)
    if padded:
        items[1, 4:] = -1  # a padded history (else nothing is masked: the unmasked kernels)
    codes = torch.stack([torch.randint(0, s, (3, 6), generator=g) for s in SIZES], dim=-1)
    return model.encode(items, codes, torch.arange(3) if users else None)


def _full_step(model: GenerativeRecommender, mem: torch.Tensor, pos: torch.Tensor):
    def step(prefix: torch.Tensor, level: int) -> torch.Tensor:
        tgt = torch.full(prefix.shape[:2], PAD_POS - 1)
        return model.level_logits(model.decode(mem, pos, tgt, prefix)[:, :, -1], level)

    return step


TIGER_LIKE = {"token_inputs": True, "causal": False, "user_buckets": 7, "n_heads": 3,
              "head_dim": 8}


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("kw", [{}, TIGER_LIKE])
def test_cached_logits_equal_full_decode_on_random_beam_paths(kw, padded):
    """Beams reshuffle (repeated parents, duplicate prefixes) between levels."""
    model = _model(**kw)
    with torch.no_grad():
        mem, pos = _memory(model, users="user_buckets" in kw, padded=padded)
        cached, full = CachedStep(model, mem, pos), _full_step(model, mem, pos)
        g = torch.Generator().manual_seed(2)
        prefix = torch.zeros(3, 1, 0, dtype=torch.long)
        for lvl, size in enumerate(SIZES):
            torch.testing.assert_close(cached(prefix, lvl), full(prefix, lvl),
                                       rtol=1e-4, atol=1e-5)
            parent = torch.randint(0, prefix.shape[1], (3, 5), generator=g)
            tok = torch.randint(0, size, (3, 5, 1), generator=g)
            prefix = torch.cat([prefix.gather(1, parent[..., None].expand(-1, -1, lvl)), tok], -1)


@pytest.mark.parametrize("constrained", [True, False])
def test_beam_search_with_cache_matches_full_decode(constrained):
    model = _model()
    codes = np.random.default_rng(3).integers(0, 16, (40, 3))
    codes = np.unique(codes, axis=0)
    codes = np.column_stack([codes, np.zeros(len(codes), dtype=np.int64)])
    index = ConstraintIndex.build(codes, SIZES)
    with torch.no_grad():
        mem, pos = _memory(model, users=False)
        got = beam_search(CachedStep(model, mem, pos), 3, index, beam=6, k=4,
                          constrained=constrained)
        want = beam_search(_full_step(model, mem, pos), 3, index, beam=6, k=4,
                           constrained=constrained)
    assert torch.equal(got.tuples, want.tuples)
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=1e-5)


def test_calls_out_of_order_are_refused():
    model = _model()
    with torch.no_grad():
        mem, pos = _memory(model, users=False)
        step = CachedStep(model, mem, pos)
        with pytest.raises(ValueError, match="out of order"):
            step(torch.zeros(3, 2, 1, dtype=torch.long), 1)
        step(torch.zeros(3, 1, 0, dtype=torch.long), 0)
        step(torch.zeros(3, 2, 1, dtype=torch.long), 1)  # both beams chose token 0
        with pytest.raises(ValueError, match="extends none"):
            step(torch.full((3, 2, 2), 5, dtype=torch.long), 2)


@pytest.mark.parametrize("kw", [{}, TIGER_LIKE])
def test_unpadded_encoding_equals_the_same_history_padded_in_a_batch(kw):
    """Alone, a full history takes the unmasked attention kernel; beside a longer history it
    is padded and masked. Its memory must not change."""
    model = _model(**kw)
    g = torch.Generator().manual_seed(4)
    items = torch.randint(0, 50, (2, 6), generator=g)
    items[0, 4:] = -1
    codes = torch.stack([torch.randint(0, s, (2, 6), generator=g) for s in SIZES], dim=-1)
    users = torch.arange(2) if "user_buckets" in kw else None
    with torch.no_grad():
        batch, pos = model.encode(items, codes, users)
        alone, _ = model.encode(items[:1, :4], codes[:1, :4], users[:1] if users is not None
                                else None)
    keep = pos[0] != PAD_POS
    torch.testing.assert_close(alone[0], batch[0][keep], rtol=1e-5, atol=1e-5)
