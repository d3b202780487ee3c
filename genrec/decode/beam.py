"""Trie-constrained beam search over semantic-ID tuples (STATIC style: one loop over levels).

Per level l the W beams of every user expand into candidates [B, W, C]: either the C =
max_children[l] slots of each beam's CSR row (row_ptr[node] + arange(C), masked by the row
end) or, where a dense [P_l, V_l] table exists and rows are dense, all V_l tokens. Candidate
scores gather the model's log-probabilities at the candidate tokens, dead or fully excluded
subtrees are masked to -inf, and a deterministic top-k over W * C picks the next beams. The
per-level work is O(B * W * C + B * W * V_l): it depends on the index only through C <= V_l,
never on the number of items.

Scores are joint model log-probabilities, sum_l log_softmax(logits_l)[token_l]: the constraint
only restricts the choice; it does not renormalise over the valid children.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genrec.decode.constraint import ConstraintIndex, TrieTensors
from genrec.decode.select import stable_topk

StepFn = Callable[[Tensor, int], Tensor]  # (prefix int64 [B, W, l], l) -> logits [B, W, V_l]
# (items int64 [B, S], rows int64 [B, S], mask bool [B, S]) -> logits [B, S] (read only where
# mask); row b is user b. rows: each item's leaf in trie order (leaf_item[rows] == items), so the
# items below one prefix are consecutive rows: a table stored in that order is read in runs
LeafFn = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass
class BeamResult:
    """Top-k per user. Padding (fewer than k reachable items): item -1, score -inf, tuple -1.

    In unconstrained mode an item is -1 also where the generated tuple names no (active) item;
    `excluded` then flags returned items in the user's exclusion list (they are not removed).
    """

    items: Tensor  # int64 [B, k]
    scores: Tensor  # float [B, k], descending
    tuples: Tensor  # int64 [B, k, L]
    invalid_rate: float  # share of returned tuples naming no item (0.0 when constrained)
    excluded: Tensor  # bool [B, k]; all False when constrained (exclusion is exact there)
    unscored: BeamResult | None = None  # leaf_weight > 0: the beam's own top-k from the same
    #                                     search (ranked without the leaf re-scoring)

    def plain(self) -> BeamResult:
        """The beam's own ranking: `unscored` where the leaves were re-scored, else this."""
        return self if self.unscored is None else self.unscored


@dataclass
class _Beams:
    """Live search state for W beams per user."""

    tokens: Tensor  # int64 [B, W, l] chosen tokens
    node: Tensor  # int64 [B, W] trie node of the prefix (root 0 at l = 0)
    score: Tensor  # float [B, W] joint log-probability so far
    live: Tensor  # bool [B, W] False: an unfilled slot (no valid prefix left)


def beam_search(
    step: StepFn,
    batch_size: int,
    index: ConstraintIndex,
    beam: int = 20,
    k: int = 10,
    exclude: list[Sequence[int]] | Tensor | None = None,
    constrained: bool = True,
    device: torch.device | str = "cpu",
    leaf: LeafFn | None = None,
    leaf_from: int = 0,
    force: Tensor | None = None,
    leaf_budget: int = 0,
    leaf_weight: float = 0.0,
    prefix_beam: int = 0,
    leaf_outside: Tensor | None = None,
    outside_scale: float = 1.0,
    outside_offset: float = 0.0,
) -> BeamResult:
    """Top-k items per user by beam search of width `beam` over the index's tuples.

    step(prefix, l): prefix int64 [B, W, l] (W = current beams; [B, 1, 0] at l = 0) ->
    logits [B, W, level_sizes[l]]. exclude: per user a list of item indices, or an int
    tensor [B, E] padded with -1. Constrained: only trie paths to active, non-excluded items
    are expanded, so excluded items never appear and k items come back whenever k exist.
    Unconstrained: plain beam search over all tokens; tuples are mapped with item_of and
    exclusion is only reported (`excluded`). Ties break by candidate order (beam rank, token).
    Scores are float64 for float64 logits, else float32. Unfilled beam slots (fewer valid
    prefixes than `beam`) still reach `step` with in-range filler tokens; their logits are
    ignored. `device`: where the index tables and prefixes live (the step's device).

    Item-aware leaves (constrained only): with `leaf` and 1 <= leaf_from < L, `step` chooses
    the first `leaf_from` tokens; then every active item below each beam's prefix (at most
    max_leaves[leaf_from - 1] of them, a bound set by the code sizes, not by N) is scored by
    leaf(items), log-softmaxed among its beam's items and added to the beam's score.
    leaf_budget > 0 bounds that work per user and sets the last generated level's width: all
    of that level's candidate prefixes (not only the best `beam`) join best first while their
    leaves add up to at most leaf_budget (the best one always joins), so the cost stays flat as
    N grows and the budget alone decides how many prefixes open; forced beams join on top.
    leaf_weight w > 0: the k returned are the best of all opened leaves by beam score +
    w * leaf logit (the leaf logits are computed anyway, so re-scoring every opened leaf costs
    nothing more than re-scoring the best k); their scores are that sum.
    prefix_beam > 0: the generated levels before the last one keep that many beams instead of
    `beam`, never more (leaf_from >= 2 only). The last generated level's model step runs on
    every kept prefix, so with two generated levels this width, not N, sets most of the
    decoder's work.
    leaf_outside: bool [N], items scored against their prefix's normaliser without entering it
    (new items): every trained item scored keeps the score it had without them (they still
    take leaf budget and beam width, so one near the budget's edge can drop out); a prefix
    holding only such items normalises over them.
    outside_scale, outside_offset: their whole score (log p(prefix) + that leaf log-prob) becomes
    scale * score + offset; a scale below 1 pulls scores the model never learned towards one
    level (a calibration). Re-scoring (leaf_weight) then adds weight * leaf logit as usual.
    force: items int64 [B, F] (-1 padding) whose first-level prefixes join the beams before the
    leaves (leaf_from = 1 only), scored like any beam: an item outside the top `beam` first
    codes (e.g. a new one, whose code's mass the decoder never learned) can still be reached.
    """
    if not 1 <= k <= beam:
        raise ValueError(f"need 1 <= k <= beam, got k={k}, beam={beam}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if prefix_beam < 0:
        raise ValueError(f"prefix_beam must be >= 0, got {prefix_beam}")
    t = index.tensors(device)
    excl = _exclusions(exclude, batch_size, index, device)  # int64 [B, E]
    state = _start(batch_size, device)
    dtype = torch.float32
    jump = leaf is not None and constrained and 0 < leaf_from < index.n_levels
    always = None  # bool [B, W]: beams on a forced first code open whatever the budget
    for lvl in range(leaf_from if jump else index.n_levels):
        if lvl == index.n_levels - 1 and index.level_sizes[lvl] == 1:
            # a one-token last level (no collisions left to disambiguate): its log-softmax is
            # 0 whatever the model says, so the model call is skipped, exactly
            logits = torch.zeros(batch_size, state.node.shape[1], 1, dtype=dtype, device=device)
        else:
            logits = step(state.tokens, lvl)
            dtype = logits.dtype
        want = (batch_size, state.node.shape[1], index.level_sizes[lvl])
        if tuple(logits.shape) != want:
            got = tuple(logits.shape)
            raise ValueError(f"step returned logits {got} at level {lvl}, want {want}")
        width = k if lvl == index.n_levels - 1 else beam
        if jump:  # the last generated level: the budget, not the beam, decides what opens
            width = beam if lvl == leaf_from - 1 else min(prefix_beam or beam, beam)
            if lvl == leaf_from - 1 and leaf_budget > 0:  # all that can open (+ forced)
                width = index.max_open(lvl, leaf_budget) + (0 if force is None else force.shape[1])
        if constrained:
            cand = _trie_candidates(index, t, lvl, state.node, logits, excl)
        else:
            cand = _all_candidates(logits)
        state = _advance(state, *cand, width)
        if jump and lvl == 0 and leaf_from == 1 and force is not None and force.shape[1]:
            node = torch.where(force >= 0, t.item_node[0][force.clamp(min=0)].long(), -1)
            state = _with_forced(state, cand, node)
            always = (state.node[..., None] == node[:, None, :]).any(-1) & state.live
    if jump:
        assert leaf is not None
        state, plain = _advance_to_leaves(index, t, state, leaf, leaf_from, excl, k,
                                          leaf_budget, always, leaf_weight, leaf_outside,
                                          (outside_scale, outside_offset))
        if plain is not None:
            result = _result(index, t, state, excl, k, constrained)
            result.unscored = _result(index, t, plain, excl, k, constrained)
            return result
    return _result(index, t, state, excl, k, constrained)


def _start(batch_size: int, device: torch.device | str) -> _Beams:
    return _Beams(
        tokens=torch.zeros(batch_size, 1, 0, dtype=torch.long, device=device),
        node=torch.zeros(batch_size, 1, dtype=torch.long, device=device),
        score=torch.zeros(batch_size, 1, dtype=torch.float64, device=device),
        live=torch.ones(batch_size, 1, dtype=torch.bool, device=device),
    )


def _log_norm(logits: Tensor) -> tuple[Tensor, Tensor]:
    """(logits, logsumexp [B, W, 1]) in float32 at least; log p = logits - lse."""
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    return logits, torch.logsumexp(logits, dim=-1, keepdim=True)


def _trie_candidates(
    index: ConstraintIndex, t: TrieTensors, lvl: int, node: Tensor, logits: Tensor, excl: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(token, child node, log p, valid), each [B, W, C], for the children of each beam's node."""
    logits, lse = _log_norm(logits)
    size, width = index.level_sizes[lvl], index.max_children[lvl]
    dense = t.dense[lvl]
    if dense is not None:  # rows nearly full (see ConstraintIndex.build): every token a slot
        child = dense[node].long()  # [B, W, V]
        valid = child >= 0
        child = child.clamp(min=0)
        token = torch.arange(size, device=node.device).expand_as(child)
        logp = logits - lse
    else:
        start = t.row_ptr[lvl][node].long()[..., None]  # [B, W, 1]
        end = t.row_ptr[lvl][node + 1].long()[..., None]  # [B, W, 1]
        edge = start + torch.arange(width, device=node.device)  # [B, W, C]
        valid = edge < end
        child = torch.where(valid, edge, 0)
        token = t.child_token[lvl][child].long()  # [B, W, C]
        logp = logits.gather(-1, token) - lse
    left = t.subtree_items[lvl][child]  # [B, W, C] active items below the child
    if excl.shape[1]:
        left = left - _count_below(t, lvl, excl, node, child.shape[-1], dense is not None)
    return token, child, logp, valid & (left > 0)


def _with_forced(state: _Beams, cand: tuple[Tensor, Tensor, Tensor, Tensor], force: Tensor
                 ) -> _Beams:
    """The level-1 beams [B, W] plus the first-level nodes force [B, F] (-1: none) that are
    not among them yet -> [B, W + F]; cand: the root's candidates (token, child, log p, valid),
    each [B, 1, C]. A forced node that is invalid (no allowed item) or repeated stays dead."""
    token, child, logp, valid = (x[:, 0] for x in cand)  # [B, C]
    # [B, C, F]; only valid slots: a dense row clamps missing children to node 0, which would
    # otherwise shadow the real node 0 (found by hypothesis)
    hit = (child[:, :, None] == force[:, None, :]) & valid[:, :, None]
    pos = hit.float().argmax(1)  # [B, F] the forced node's candidate slot
    ok = hit.any(1) & (force >= 0)
    ok &= ~((state.node[:, :, None] == force[:, None, :]) & state.live[:, :, None]).any(1)
    same = force[:, :, None] == force[:, None, :]  # [B, F, F]
    ok &= ~(same & torch.ones_like(same).tril(-1)).any(2)  # keep a repeat's first only
    score = torch.where(ok, logp.gather(1, pos).to(state.score.dtype), float("-inf"))
    return _Beams(tokens=torch.cat([state.tokens, token.gather(1, pos)[..., None]], 1),
                  node=torch.cat([state.node, torch.where(ok, force, 0)], 1),
                  score=torch.cat([state.score, score], 1),
                  live=torch.cat([state.live, ok], 1))


def _advance_to_leaves(index: ConstraintIndex, t: TrieTensors, state: _Beams, leaf: LeafFn,
                       depth: int, excl: Tensor, k: int, budget: int = 0,
                       always: Tensor | None = None, weight: float = 0.0,
                       outside: Tensor | None = None,
                       calibration: tuple[float, float] = (1.0, 0.0)
                       ) -> tuple[_Beams, _Beams | None]:
    """Final beams [B, k'] from the items below the beams' prefix nodes (level depth - 1),
    scored by log p(prefix) + log_softmax over the prefix's active items of leaf().

    budget > 0: a user's beams join best first while their leaves (items below the prefix,
    active or not) add up to at most `budget`; the best beam always joins. So a query scores
    at most max(budget, max_leaves) items, however large the catalogue. The leaves of the
    joining beams lie in one ragged row per user: slot j belongs to the beam whose running
    leaf count first passes j (a searchsorted, no loop over beams). Beams flagged in `always`
    [B, W] (forced first codes, whether the decoder ranked them or not) open outside the
    budget: forcing exists to reach items the decoder ranks low. weight > 0: the picks are
    ranked by that score + weight * leaf logit (every opened leaf re-scored), and the beam's
    own picks (weight 0) come back beside them; else None. outside, calibration: beam_search's
    leaf_outside and (outside_scale, outside_offset)."""
    n_users, n_beams = state.node.shape
    first = t.first_leaf[depth - 1]
    lo = first[state.node].long()  # [B, W] first leaf below each beam
    count = (first[state.node + 1].long() - lo) * state.live  # [B, W] its leaves
    if budget > 0:
        forced = torch.zeros_like(state.live) if always is None else always  # [B, W]
        key = torch.where(state.live & ~forced, state.score, float("-inf"))
        rank = stable_topk(key, n_beams)  # [B, W] beams best first, forced ones last
        fits = (count * ~forced).gather(1, rank).cumsum(1) <= budget  # [B, W] in rank order
        fits[:, 0] = True
        count = count * (torch.zeros_like(fits).scatter(1, rank, fits) | forced)
    end = count.cumsum(1)  # [B, W] one past each beam's last slot
    span = max(1, int(end[:, -1].max()))  # S: the longest row
    slot = torch.arange(span, device=lo.device).expand(n_users, span).contiguous()  # [B, S]
    owner = torch.searchsorted(end, slot, right=True)  # [B, S] beam of each slot; W: none
    exists = owner < n_beams
    owner = owner.clamp(max=n_beams - 1)
    leaf_node = lo.gather(1, owner) + slot - (end - count).gather(1, owner)
    leaf_node = torch.where(exists, leaf_node, 0)  # [B, S] sorted row = leaf
    items = t.leaf_item[leaf_node]  # [B, S]
    mask = exists & t.active[items]
    logits = leaf(items, leaf_node, mask).to(state.score.dtype).masked_fill(~mask, float("-inf"))
    inside = mask if outside is None else mask & ~outside[items]  # [B, S] in the normaliser
    lse = _segment_logsumexp(logits, torch.where(inside, owner, n_beams), n_beams)  # [B, W+1]
    if outside is not None:  # a prefix with no inside item normalises over all of its items
        every = _segment_logsumexp(logits, torch.where(mask, owner, n_beams), n_beams)
        lse = torch.where(lse > float("-inf"), lse, every)
    lse = lse.gather(1, owner)  # [B, S]
    logp = (logits - lse).masked_fill(~mask, float("-inf"))
    allowed = mask & ~_excluded(items, excl)
    score = state.score.to(logp.dtype).gather(1, owner) + logp  # [B, S]
    if outside is not None and calibration != (1.0, 0.0):
        scale, offset = calibration
        score = torch.where(mask & outside[items], scale * score + offset, score)
    plain = _best_leaves(index, t, leaf_node, score, allowed, k) if weight else None
    if weight:
        score = score + weight * logits
    return _best_leaves(index, t, leaf_node, score, allowed, k), plain


def _best_leaves(index: ConstraintIndex, t: TrieTensors, leaf_node: Tensor, score: Tensor,
                 allowed: Tensor, k: int) -> _Beams:
    """The k best allowed slots of leaf_node [B, S] by score [B, S], as final beams."""
    floor = torch.finfo(score.dtype).min
    key = torch.where(allowed, score.clamp(min=floor), float("-inf"))
    pick = stable_topk(key, min(k, key.shape[1]))  # [B, k']
    node = leaf_node.gather(1, pick)  # [B, k'] leaf node = sorted row
    item = t.leaf_item[node]
    tokens = torch.stack([t.child_token[lvl][t.item_node[lvl][item]].long()
                          for lvl in range(index.n_levels)], -1)  # [B, k', L]
    return _Beams(tokens=tokens, node=node, score=score.gather(1, pick),
                  live=allowed.gather(1, pick))


def _segment_logsumexp(logits: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """logsumexp of logits [B, S] over the slots of each segment [B, S] (values 0..n_segments,
    n_segments = a spare for masked slots) -> [B, n_segments + 1], -inf for an empty one."""
    n_users = logits.shape[0]
    top = torch.full((n_users, n_segments + 1), float("-inf"), dtype=logits.dtype,
                     device=logits.device).scatter_reduce(1, segment, logits, "amax")
    top = top.nan_to_num(neginf=0.0)  # [B, n_segments + 1] each segment's max (0 if empty)
    total = torch.zeros(n_users, n_segments + 1, dtype=logits.dtype, device=logits.device)
    total = total.scatter_add(1, segment, (logits - top.gather(1, segment)).exp())
    return top + total.log()


def _excluded(items: Tensor, excl: Tensor) -> Tensor:
    """bool [B, M]: items [B, M] that are in the user's exclusions excl [B, E] (-1 padded);
    a binary search per item, O(B * M * log E) rather than a [B, M, E] comparison."""
    if excl.shape[1] == 0:
        return torch.zeros_like(items, dtype=torch.bool)
    srt = torch.sort(excl, dim=-1).values.contiguous()
    pos = torch.searchsorted(srt, items.contiguous()).clamp(max=srt.shape[1] - 1)
    return srt.gather(1, pos) == items


def _all_candidates(logits: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Unconstrained: every token of every beam is a candidate; child nodes are unused (0)."""
    logits, lse = _log_norm(logits)
    token = torch.arange(logits.shape[-1], device=logits.device).expand(logits.shape)
    valid = torch.ones(logits.shape, dtype=torch.bool, device=logits.device)
    return token, torch.zeros_like(token), logits - lse, valid


def _count_below(
    t: TrieTensors, lvl: int, excl: Tensor, node: Tensor, n_cand: int, dense: bool
) -> Tensor:
    """Excluded items under each candidate: excl [B, E], beam nodes [B, W] -> int32 [B, W, C].

    Each excluded item names its own candidate slot: the beam sitting on the item's parent
    node, column = the item's child position in that row (its token on the dense path). So
    the cost is O(B * W * E) compares plus one scatter-add, independent of C and of N.
    """
    n_users, n_beams = node.shape
    item = excl.clamp(min=0)
    child = t.item_node[lvl][item].long()  # [B, E] excluded item's node at this level
    parent = t.item_node[lvl - 1][item].long() if lvl else torch.zeros_like(item)  # [B, E]
    col = t.child_token[lvl][child].long() if dense else child - t.row_ptr[lvl][parent].long()
    hit = (node[:, :, None] == parent[:, None, :]) & (excl >= 0)[:, None, :]  # [B, W, E]
    beam = torch.arange(n_beams, device=node.device)[None, :, None]
    slot = torch.where(hit, beam * n_cand + col[:, None, :], n_beams * n_cand)  # [B, W, E]
    counts = torch.zeros(n_users, n_beams * n_cand + 1, dtype=torch.int32, device=node.device)
    counts.scatter_add_(
        1, slot.reshape(n_users, -1), torch.ones_like(slot, dtype=torch.int32).reshape(n_users, -1)
    )
    return counts[:, :-1].view(n_users, n_beams, n_cand)


def _advance(
    state: _Beams, token: Tensor, child: Tensor, logp: Tensor, valid: Tensor, width: int
) -> _Beams:
    """Keep the best `width` of the W * C candidates per user (fewer if W * C < width)."""
    n_users, n_beams, n_cand = token.shape
    score = (state.score.to(logp.dtype)[..., None] + logp).reshape(n_users, -1)  # [B, W * C]
    valid = (valid & state.live[..., None]).reshape(n_users, -1)
    # Rank key: live candidates above every dead one, even at score -inf; NaN counts as -inf.
    floor = torch.finfo(score.dtype).min
    key = torch.where(valid, score.nan_to_num(nan=floor).clamp(min=floor), float("-inf"))
    pick = stable_topk(key, min(width, n_beams * n_cand))  # [B, W'] flat candidate ids
    parent = pick // n_cand  # [B, W'] beam each pick extends
    prefix = state.tokens.gather(1, parent[..., None].expand(-1, -1, state.tokens.shape[2]))
    chosen = token.reshape(n_users, -1).gather(1, pick)[..., None]  # [B, W', 1]
    return _Beams(
        tokens=torch.cat([prefix, chosen], dim=-1),
        node=child.reshape(n_users, -1).gather(1, pick),
        score=score.gather(1, pick),
        live=valid.gather(1, pick),
    )


def _exclusions(
    exclude: list[Sequence[int]] | Tensor | None,
    batch_size: int,
    index: ConstraintIndex,
    device: torch.device | str,
) -> Tensor:
    """int64 [B, E]: each user's excluded active items, duplicates removed, -1 padded.

    Duplicates and inactive items are dropped so that subtracting their counts from
    subtree_items (which counts active items once) is exact.
    """
    if exclude is None:
        return torch.full((batch_size, 0), -1, dtype=torch.long, device=device)
    if isinstance(exclude, Tensor):
        excl = exclude.to(device=device, dtype=torch.long)
    else:
        if len(exclude) != batch_size:
            raise ValueError(f"exclude has {len(exclude)} users, batch_size is {batch_size}")
        width = max((len(e) for e in exclude), default=0)
        excl = torch.full((batch_size, width), -1, dtype=torch.long)
        for row, items in enumerate(exclude):  # input conversion only, not per step
            excl[row, : len(items)] = torch.as_tensor(list(items), dtype=torch.long)
        excl = excl.to(device)
    if excl.ndim != 2 or excl.shape[0] != batch_size:
        raise ValueError(f"exclude must be [{batch_size}, E], got {tuple(excl.shape)}")
    if (excl >= index.n_items).any():
        raise ValueError(f"exclude names item {int(excl.max())} >= n_items {index.n_items}")
    excl = torch.sort(excl, dim=-1).values
    dup = torch.zeros_like(excl, dtype=torch.bool)
    dup[:, 1:] = excl[:, 1:] == excl[:, :-1]
    keep = (excl >= 0) & ~dup & index.tensors(device).active[excl.clamp(min=0)]
    return torch.where(keep, excl, -1)


def _result(
    index: ConstraintIndex, t: TrieTensors, state: _Beams, excl: Tensor, k: int, constrained: bool
) -> BeamResult:
    """Map the final beams to items, pad to k, and report invalid / excluded picks."""
    if constrained:
        items = torch.where(state.live, t.leaf_item[state.node], -1)
    else:
        items = torch.where(state.live, index.item_of(state.tokens, active_only=True), -1)
    invalid = state.live & (items < 0)  # [B, W]; only possible when unconstrained
    n_live = int(state.live.sum())
    excluded = (items[..., None] == excl[:, None, :]).any(-1) & (items >= 0)  # [B, W]
    pad = k - items.shape[1]  # > 0 only when the whole level had fewer than k candidates
    scores = torch.where(state.live, state.score, float("-inf"))
    tuples = torch.where(state.live[..., None], state.tokens, -1)
    if pad:
        items = torch.nn.functional.pad(items, (0, pad), value=-1)
        scores = torch.nn.functional.pad(scores, (0, pad), value=float("-inf"))
        tuples = torch.nn.functional.pad(tuples, (0, 0, 0, pad), value=-1)
        excluded = torch.nn.functional.pad(excluded, (0, pad), value=False)
    return BeamResult(
        items=items,
        scores=scores,
        tuples=tuples,
        invalid_rate=float(invalid.sum()) / n_live if n_live else 0.0,
        excluded=excluded,
    )
