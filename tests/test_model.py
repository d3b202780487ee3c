"""The seq2seq model: no leakage from the future, training and decoding agree, it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.model import TIGER_PRESET, GenerativeRecommender, ModelConfig
from genrec.model.batches import causal_windows, iterate_batches, make_batch, prefix_examples
from genrec.model.model import PAD_POS
from genrec.model.recommender import Recommender
from genrec.semantic_ids import IndexConfig, build_index

SIZES = [16, 16, 16, 3]


def _model(**kw) -> GenerativeRecommender:
    torch.manual_seed(0)
    cfg = ModelConfig(level_sizes=SIZES, n_items=50, d_model=32, n_heads=2, d_ff=64,
                      max_items=8, **kw)
    return GenerativeRecommender(cfg).eval()


def _codes(n: int = 50) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.stack([torch.randint(0, s, (n,), generator=g) for s in SIZES], dim=1)


@pytest.mark.parametrize("kw", [{}, {"token_inputs": True}, {"item_embeddings": True},
                                {"user_buckets": 7}])
def test_causal_targets_never_see_the_future(kw):
    """Target t's logits are the same whether or not items after t are in the window."""
    model, codes = _model(**kw), _codes()
    window = np.array([3, 9, 4, 17, 22, 8, 30], dtype=np.int64)
    full = make_batch([window], np.array([5]), codes, causal=True)
    with torch.no_grad():
        mem, pos = model.encode(full.items, full.codes, full.users)
        h_full = model.decode(mem, pos, full.tgt_pos, full.tgt_codes[:, :, :-1])
        for t in range(1, len(window)):
            cut = make_batch([window[: t + 1]], np.array([5]), codes, causal=True)
            mem, pos = model.encode(cut.items, cut.codes, cut.users)
            h_cut = model.decode(mem, pos, cut.tgt_pos, cut.tgt_codes[:, :, :-1])
            torch.testing.assert_close(h_cut[0, t - 1], h_full[0, t - 1], rtol=1e-4, atol=1e-5)


def test_beam_step_matches_teacher_forced_decoder():
    """The logits beam search sees equal the ones training optimises for the same prefix."""
    model, codes = _model(), _codes()
    hist = np.array([3, 9, 4], dtype=np.int64)
    target = 11
    batch = make_batch([np.r_[hist, target]], np.array([0]), codes, causal=True)
    with torch.no_grad():
        mem, pos = model.encode(batch.items, batch.codes)
        h = model.decode(mem, pos, batch.tgt_pos, batch.tgt_codes[:, :, :-1])[0, -1]
        beam_pos = torch.full((1, 1), PAD_POS - 1)
        for lvl in range(len(SIZES)):
            prefix = codes[target][None, None, :lvl]
            h_beam = model.decode(mem, pos, beam_pos, prefix)[0, 0, -1]
            torch.testing.assert_close(model.level_logits(h_beam, lvl),
                                       model.level_logits(h[lvl], lvl), rtol=1e-4, atol=1e-5)


def test_windows_cover_every_target_once():
    seqs = [np.arange(n) for n in (2, 5, 23, 40)]
    windows, _ = causal_windows(seqs, max_items=8)
    targets = sorted(int(x) for w in windows for x in w[1:])
    assert targets == sorted(int(x) for s in seqs for x in s[1:])
    assert max(len(w) for w in windows) == 9
    examples, _ = prefix_examples(seqs, max_items=8)
    assert len(examples) == sum(len(s) - 1 for s in seqs)


def test_tiger_preset_builds_with_the_paper_sizes():
    cfg = ModelConfig(level_sizes=[256, 256, 256, 10], **TIGER_PRESET)
    model = GenerativeRecommender(cfg)
    attn = model.encoder[0].attn
    assert (attn.h, attn.hd) == (6, 64) and len(model.encoder) == len(model.decoder) == 4
    assert model.user is not None and model.user.num_embeddings == 2000


def test_model_learns_a_real_slice(beauty):
    """A small model on 400 Beauty users: loss falls and beam search returns only real items."""
    split = beauty.split()
    train = split.train[:400]
    items = sorted({int(i) for s in beauty.sequences[:400] for i in s})
    index = build_index(IndexConfig(method="random", codebook_size=16, seed=0),
                        beauty.item_ids, vectors=None)
    torch.manual_seed(0)
    model = GenerativeRecommender(ModelConfig(level_sizes=index.level_sizes,
                                              n_items=beauty.n_items, d_model=32, n_heads=2,
                                              d_ff=64, encoder_layers=1, decoder_layers=1))
    codes = torch.from_numpy(index.codes)
    windows, owners = causal_windows(train, 20)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen, losses = torch.Generator().manual_seed(0), []
    for _ in range(8):
        for b in iterate_batches(windows, owners, codes, True, 64, gen):
            loss = model.loss(b.items, b.codes, b.tgt_pos, b.tgt_codes, b.tgt_valid)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2
    rec = Recommender(model, index, beam=10)
    hist = split.test_history[:16]
    res = rec.recommend(hist, k=10, exclude=[h.tolist() for h in hist])
    assert (res.items >= 0).all() and res.invalid_rate == 0.0
    for row, h in zip(res.items.tolist(), hist, strict=True):
        assert not set(row) & set(h.tolist())  # history excluded, still 10 items
    assert len(items) > 0


def test_tiger_preset_trains_and_decodes_one_target_per_example():
    """Bidirectional token-level layout: one target per example, beam search still valid."""
    codes = _codes()
    cfg = ModelConfig(level_sizes=SIZES, n_items=50,
                      **(TIGER_PRESET | dict(d_model=32, head_dim=8, d_ff=64)))
    torch.manual_seed(0)
    model = GenerativeRecommender(cfg)
    seqs = [np.array([1, 2, 3, 4, 5]), np.array([6, 7, 8])]
    examples, owners = prefix_examples(seqs, cfg.max_items)
    batch = make_batch(examples, owners, codes, causal=False)
    loss = model.loss(batch.items, batch.codes, batch.tgt_pos, batch.tgt_codes, batch.tgt_valid,
                      batch.users)
    loss.backward()
    assert torch.isfinite(loss) and model.tok.weight.grad is not None
    index = build_index(IndexConfig(method="random", codebook_size=16, seed=1),
                        [str(i) for i in range(50)])
    cfg2 = ModelConfig(**(cfg.__dict__ | {"level_sizes": index.level_sizes}))
    rec = Recommender(GenerativeRecommender(cfg2), index, beam=5)
    res = rec.recommend([np.array([1, 2, 3])], k=5, users=np.array([0]), exclude=[[1, 2, 3]])
    assert (res.items >= 0).all() and not set(res.items[0].tolist()) & {1, 2, 3}


def test_item_loss_adds_a_catalogue_softmax():
    """item_loss trains the encoder state to score the true next item among all items."""
    codes = _codes()
    torch.manual_seed(0)
    plain = GenerativeRecommender(ModelConfig(level_sizes=SIZES, n_items=50, d_model=32,
                                              n_heads=2, item_embeddings=True))
    torch.manual_seed(0)
    aux = GenerativeRecommender(ModelConfig(level_sizes=SIZES, n_items=50, d_model=32, n_heads=2,
                                            item_embeddings=True, item_loss=1.0))
    batch = make_batch([np.array([1, 2, 3, 4]), np.array([5, 6, 7])], np.array([0, 1]), codes,
                       causal=True)
    args = (batch.items, batch.codes, batch.tgt_pos, batch.tgt_codes, batch.tgt_valid,
            batch.users, batch.tgt_items, codes)
    extra = aux.loss(*args) - plain.loss(*args)
    assert extra > np.log(50) * 0.8  # about log(n_items) at initialisation
