"""Item-head re-ranking of the beam (Recommender item_weight) against a slow reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.decode import BeamResult
from genrec.model.recommender import rerank
from genrec.run import load_recommender


@st.composite
def beam_results(draw):
    """A BeamResult of B users x W distinct items (padding -1 at the end) and item log-probs."""
    n_users, width, n_items = draw(st.integers(1, 4)), draw(st.integers(1, 8)), 12
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    items = np.full((n_users, width), -1)
    scores = np.full((n_users, width), -np.inf)
    for b in range(n_users):
        n = draw(st.integers(0, width))
        items[b, :n] = rng.choice(n_items, n, replace=False)
        scores[b, :n] = np.sort(rng.normal(size=n).round(1))[::-1]  # rounded: ties happen
    logp = torch.from_numpy(rng.normal(size=(n_users, n_items)).round(1))
    result = BeamResult(torch.from_numpy(items), torch.from_numpy(scores),
                        torch.from_numpy(items)[..., None].repeat(1, 1, 3), 0.0,
                        torch.zeros(n_users, width, dtype=torch.bool))
    return result, logp, draw(st.integers(1, width)), draw(st.sampled_from([0.0, 0.5, 2.0]))


@given(beam_results())
@settings(max_examples=200, deadline=None)
def test_rerank_equals_sorting_each_list_by_the_mixed_score(case):
    result, logp, k, weight = case
    got = rerank(result, logp.gather(1, result.items.clamp(min=0)), weight, k)
    for b in range(len(result.items)):
        pairs = [(float(s) + weight * float(logp[b, i]), j, int(i))
                 for j, (i, s) in enumerate(zip(result.items[b], result.scores[b], strict=True))
                 if i >= 0]
        want = [i for _, _, i in sorted(pairs, key=lambda p: (-p[0], p[1]))][:k]
        assert [i for i in got.items[b].tolist() if i >= 0] == want
        assert torch.equal(got.tuples[b, : len(want), 0], torch.tensor(want, dtype=torch.long))


def test_item_weight_reorders_the_beam_and_keeps_exclusions(head_run):
    plain = load_recommender(head_run, beam=20, item_weight=0.0)
    mixed = load_recommender(head_run, beam=20, item_weight=1.0)
    hists = [np.array([3, 17, 40]), np.array([5])]
    excl = [h.tolist() for h in hists]
    wide = plain.recommend(hists, 20, exclude=excl)
    top = mixed.recommend(hists, 10, exclude=excl)
    logp = mixed.item_log_probs(hists)
    for b, h in enumerate(hists):
        cands = wide.items[b].tolist()
        assert set(top.items[b].tolist()) <= set(cands)  # still the trie's beam items
        assert not set(top.items[b].tolist()) & set(h.tolist())
        mix = {i: float(s) + float(logp[b, i]) for i, s in zip(cands, wide.scores[b].tolist(),
                                                               strict=True)}
        assert top.items[b].tolist() == sorted(cands, key=lambda i: -mix[i])[:10]
    with pytest.raises(ValueError, match="item_loss"):
        _plain_model_refuses(head_run)


def _plain_model_refuses(head_run):
    from genrec.model.recommender import Recommender
    from genrec.run import load_model
    from genrec.semantic_ids import SemanticIndex

    model = load_model(head_run)
    model.cfg.item_loss = 0.0
    Recommender(model, SemanticIndex.load(head_run / "index"), item_weight=1.0)


def test_item_aware_leaves_rescore_every_opened_item(leaf_run):
    """With a budget that opens every item, a dominant item_weight gives the head's own full
    ranking (re-scoring reaches every opened leaf, not only the beam's best), while the beam
    alone (weight 0) still ranks by its own score and differs."""
    from genrec.model.recommender import Recommender
    from genrec.run import load_model
    from genrec.semantic_ids import SemanticIndex

    index = SemanticIndex.load(leaf_run / "index")
    model = load_model(leaf_run)
    rec = Recommender(model, index, beam=2, item_weight=1e4, leaf_budget=len(index.codes))
    hists = [np.array([3, 17, 40]), np.array([5]), np.array([7, 8])]
    excl = [h.tolist() for h in hists]
    read = rec.readings(hists, 10, exclude=excl)
    assert np.array_equal(read["shipped"], read["head_only"])
    assert not np.array_equal(read["beam_only"], read["head_only"])
    narrow = Recommender(model, index, beam=2, item_weight=1e4, leaf_budget=1)
    assert not np.array_equal(narrow.readings(hists, 10, exclude=excl)["shipped"],
                              read["head_only"])  # one first code opens: not the head's list


def test_prefix_beam_narrows_the_first_level_of_a_two_level_search(beauty, beauty_vectors,
                                                                     tmp_path):
    """Two generated levels (3 x 8 codes): prefix_beam 1 keeps one first code, so every item of
    a list shares it; 0 (the beam, 20 >= 8 codes) keeps them all, and lists mix first codes.
    Checked through the whole Recommender (cached decoder steps, leaves, re-scoring)."""
    from conftest import make_serving_run

    out = make_serving_run(tmp_path / "run", beauty, beauty_vectors, item_loss=1.0,
                           generated_levels=2)
    hists = [np.asarray(h[-5:]) for h in beauty.split().valid_history[:40] if len(h)]
    hists = [h[h < 1500] for h in hists]
    hists = [h for h in hists if len(h)]
    firsts = {}
    for width in (0, 1):
        rec = load_recommender(out, beam=20, item_weight=1.0, prefix_beam=width)
        items = rec.recommend(hists, 10, exclude=[h.tolist() for h in hists]).items
        assert (items >= 0).all()
        firsts[width] = [len(set(rec.index.codes[row, 0].tolist())) for row in items.numpy()]
    assert all(n == 1 for n in firsts[1])
    assert max(firsts[0]) > 1
