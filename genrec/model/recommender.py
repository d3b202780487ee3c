"""A trained model + its semantic index + the constraint trie = top-K items for histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genrec.decode import BeamResult, ConstraintIndex, beam_search
from genrec.decode.select import stable_topk
from genrec.model.batches import pad_histories
from genrec.model.incremental import CachedStep
from genrec.model.model import GenerativeRecommender
from genrec.semantic_ids import SemanticIndex

READINGS = ("shipped", "beam_only", "head_only")


@dataclass(frozen=True)
class Bonus:
    """Nats added, per user, to the head logits of some rows (new items: genrec.coldstart)."""

    pos: Tensor  # int64 [N]: row -> column of `value`, -1 for rows without a bonus
    value: Tensor  # float32 [B, M]: the bonus of each user's M rows
    rows: Tensor | None = None  # int64 [M]: the rows (needed by expand)
    expand: int = 0  # the beam also expands the prefixes of each user's `expand` best rows
    #                  (head logit + bonus), so a row outside the decoder's top codes is reached
    outside: Tensor | None = None  # bool [N]: rows kept out of their prefix's leaf normaliser
    #   (their trained siblings keep their log-probabilities; beam_search's leaf_outside)
    scale: float = 1.0  # with outside: those rows' beam scores become scale * score + offset (a
    offset: float = 0.0  #   calibration of scores the model never learned)

    def at(self, users: Tensor, items: Tensor) -> Tensor:
        """Bonus of items (any shape, -1 padding reads 0) for users (same shape) -> float."""
        col = self.pos[items.clamp(min=0)]
        hit = (col >= 0) & (items >= 0)
        return torch.where(hit, self.value[users, col.clamp(min=0)], 0.0)


class Recommender:
    """Beam search over the trie; with an item head (models trained with item_loss):

    - generated_levels > 0: the decoder picks the first levels, then the items below each beam
      are scored by the head (item-aware leaves, genrec.decode.beam);
    - item_weight > 0: items are ranked by their beam score plus item_weight times the head's
      logit (state . item vector): with item-aware leaves every opened leaf (the leaf budget's
      items, scored anyway), otherwise the beam's `beam` items. Only the candidates' vectors
      are read; the head's softmax normaliser is one constant per user, so it cancels.

    Candidates always come from the trie, so every item is valid. The item table (every item's
    output vector) is built once here, not per decode, in the trie's leaf order: the items
    below a prefix are consecutive rows, so the leaves' gathers read runs of memory rather than
    one random row per item, whose cost grows as the table outgrows the caches."""

    def __init__(self, model: GenerativeRecommender, index: SemanticIndex, beam: int = 20,
                 item_weight: float = 0.0, leaf_budget: int | None = None,
                 prefix_beam: int | None = None) -> None:
        self.model = model.eval()
        # items a query's leaves may score (0: every beam opens); default: the model's config
        self.leaf_budget = model.cfg.leaf_budget if leaf_budget is None else leaf_budget
        # beams kept before the last generated level (0: beam); default: the model's config
        self.prefix_beam = model.cfg.prefix_beam if prefix_beam is None else prefix_beam
        self.index = index
        self.codes = torch.from_numpy(index.codes)
        self.constraint = ConstraintIndex.build(index.codes, index.level_sizes)
        self.beam = beam
        if item_weight < 0:
            raise ValueError(f"item_weight must be >= 0, got {item_weight}")
        has_head = model.cfg.item_loss > 0
        if (item_weight or model.cfg.generated_levels) and not has_head:
            raise ValueError("item_weight > 0 and generated_levels need a model trained with "
                             "item_loss > 0")
        self.item_weight = item_weight
        dev = next(model.parameters()).device
        # int32 [N]: item -> its row in `vectors` (the node of its whole tuple = its leaf)
        self.row_of = torch.from_numpy(self.constraint.item_node[-1]).to(dev)
        self.vectors: Tensor | None = None  # [N, d] the head's item vectors, row r = item
        #                                      constraint.leaf_item[r] (trie leaf order)
        if has_head:
            with torch.no_grad():
                order = torch.from_numpy(self.constraint.leaf_item).to(dev)
                self.vectors = model.item_table(self.codes.to(dev), order=order)
        self.invalid: list[float] = []  # invalid_rate per call (unconstrained mode)

    def recommend(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        users: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        constrained: bool = True,
        bonus: Bonus | None = None,
    ) -> BeamResult:
        """Beam search for each history; `exclude` per user (e.g. the history itself); `bonus`
        adds to some rows' head logits wherever the head scores them (leaves, re-scoring)."""
        mem, mem_pos = self._encode(histories, users)
        beam, _ = self._search(mem, mem_pos, self._state(mem, mem_pos), k, exclude, constrained,
                               bonus)
        return _to_cpu(beam)

    def _state(self, mem: Tensor, mem_pos: Tensor) -> Tensor | None:
        """The item head's query [B, d] (None without a head)."""
        return self.model.last_state(mem, mem_pos) if self.vectors is not None else None

    @property
    def has_head(self) -> bool:
        return self.vectors is not None

    def item_vectors(self, items: Tensor) -> Tensor:
        """The head's vectors of items int64 [M] -> [M, d] (a copy)."""
        assert self.vectors is not None
        return self.vectors.index_select(0, self.row_of[items.to(self.row_of.device)])

    def set_item_vectors(self, items: Tensor, values: Tensor) -> None:
        """Overwrite the head's vectors of items int64 [M] with values [M, d]."""
        assert self.vectors is not None
        self.vectors[self.row_of[items.to(self.row_of.device)].long()] = values.to(self.vectors)

    def catalogue_logits(self, state: Tensor) -> Tensor:
        """The head's logit of every item, in item order: state [B, d] -> [B, N]. It scores the
        whole catalogue: evaluation readings and fresh slots only, never the shipped path."""
        assert self.vectors is not None
        return (state @ self.vectors.T).index_select(1, self.row_of)

    @torch.no_grad()
    def _search(self, mem: Tensor, mem_pos: Tensor, state: Tensor | None, k: int,
                exclude: Sequence[Sequence[int]] | None, constrained: bool,
                bonus: Bonus | None = None, weight: float | None = None
                ) -> tuple[BeamResult, BeamResult]:
        """(top-k, top-`width` candidates) of one search ranked by beam score + weight * head
        logit (weight: default item_weight; 0: the beam's own ranking). With item-aware leaves
        the weight ranks every opened leaf, so both lists come out of the search re-scored;
        otherwise the candidates are the beam's own and the top-k is them re-ranked."""
        weight = self.item_weight if weight is None else weight
        width = max(self.beam, k)
        leaf = None
        if state is not None and self.model.cfg.generated_levels:
            vectors = self.vectors

            def leaf(items: Tensor, rows: Tensor, mask: Tensor) -> Tensor:  # [B, S] -> [B, S]
                # every slot gathered + dotted: cheaper than gathering only the masked-in ones
                # (rows are nearly full), and padding slots hold a valid row
                out = _dots(vectors, rows, state)
                if bonus is not None:
                    users = torch.arange(len(items), device=items.device)[:, None]
                    out = out + torch.where(mask, bonus.at(users.expand_as(items), items), 0.0)
                return out

        force = None
        if leaf is not None and bonus is not None and bonus.expand and bonus.rows is not None:
            force = self._best_rows(state, bonus, exclude)
        step = CachedStep(self.model, mem, mem_pos)  # == decode + level_logits, cached
        cand = beam_search(step, len(mem), self.constraint, beam=width, k=width,
                           exclude=exclude, constrained=constrained, device=mem.device,
                           leaf=leaf, leaf_from=self.model.cfg.generated_levels, force=force,
                           leaf_budget=self.leaf_budget, leaf_weight=weight if leaf else 0.0,
                           prefix_beam=self.prefix_beam,
                           leaf_outside=None if bonus is None or bonus.outside is None
                           else bonus.outside.to(mem.device),
                           outside_scale=1.0 if bonus is None else bonus.scale,
                           outside_offset=0.0 if bonus is None else bonus.offset)
        self.invalid.append(cand.invalid_rate)
        if weight and state is not None and leaf is None:
            logit = self.head_logits(state, cand.items)
            if bonus is not None:
                users = torch.arange(len(cand.items), device=logit.device)[:, None]
                logit = logit + bonus.at(users.expand_as(cand.items), cand.items)
            return rerank(cand, logit, weight, k), cand
        return _head(cand, k), cand

    def _best_rows(self, state: Tensor, bonus: Bonus, exclude: Sequence[Sequence[int]] | None
                   ) -> Tensor:
        """int64 [B, expand]: each user's best bonus rows by head logit + bonus, excluded rows
        skipped (-1 where fewer are left). Reads only those M rows' vectors."""
        assert bonus.rows is not None
        rows = bonus.rows.to(state.device)
        score = state @ self.item_vectors(rows).T + bonus.value  # [B, M]
        for b, ex in enumerate(exclude or []):
            if len(ex):
                score[b, torch.isin(rows, torch.as_tensor(list(ex), device=rows.device))] = \
                    float("-inf")
        top = torch.topk(score, min(bonus.expand, len(rows)), dim=1)
        return torch.where(top.values > float("-inf"), rows[top.indices], -1)

    def head_logits(self, state: Tensor, items: Tensor) -> Tensor:
        """The head's logit state . v_item for items int64 [B, C] (-1 padding reads row 0)."""
        assert self.vectors is not None
        return _dots(self.vectors, self.row_of[items.clamp(min=0)], state)

    @torch.no_grad()
    def readings(self, histories: list[np.ndarray], k: int = 10,
                 users: np.ndarray | None = None,
                 exclude: Sequence[Sequence[int]] | None = None) -> dict[str, np.ndarray]:
        """From one encoding pass: top-k item rows [B, k] of the shipped default, of the beam
        alone (its own scores, no re-scoring) and of the head over the whole catalogue (an
        evaluation reading: it scores every item), plus `head_in_candidates` [B], the share of
        the head's top-k that the shipped list's top-`beam` candidates contain."""
        mem, mem_pos = self._encode(histories, users)
        state = self._state(mem, mem_pos)
        shipped, cand = self._search(mem, mem_pos, state, k, exclude, True)
        out = {"shipped": shipped.items.cpu().numpy(),
               "beam_only": _head(cand.plain(), k).items.cpu().numpy()}
        if state is not None and self.vectors is not None:
            logits = self.catalogue_logits(state)  # [B, N]
            for row, items in enumerate(exclude or []):
                logits[row, torch.as_tensor(list(items), dtype=torch.long)] = float("-inf")
            top = stable_topk(logits, k)
            out["head_only"] = top.cpu().numpy()
            inside = (top[:, :, None] == cand.items[:, None, :]).any(-1)  # [B, k]
            out["head_in_candidates"] = inside.float().mean(1).cpu().numpy()
        return out

    @torch.no_grad()
    def recommend_with_item_log_probs(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        users: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        constrained: bool = True,
    ) -> tuple[BeamResult, Tensor]:
        """recommend() and, from the same encoding, the item head's log p(item | history)
        [B, N] on CPU (an evaluation reading: it scores every item)."""
        mem, mem_pos = self._encode(histories, users)
        state = self.model.last_state(mem, mem_pos)  # raises without an item head
        result, _ = self._search(mem, mem_pos, state, k, exclude, constrained)
        return _to_cpu(result), self._log_probs(state)

    @torch.no_grad()
    def recommend_with_logits(self, histories: list[np.ndarray], k: int,
                              exclude: Sequence[Sequence[int]] | None, rows: Tensor
                              ) -> tuple[BeamResult, Tensor, Tensor]:
        """recommend() plus, from the same encoding, the head's logits of the returned items
        [B, k] and of `rows` [M] ([B, M]); all on CPU (fresh slots: genrec.coldstart)."""
        mem, mem_pos = self._encode(histories)
        state = self.model.last_state(mem, mem_pos)  # raises without an item head
        result, _ = self._search(mem, mem_pos, state, k, exclude, True)
        rows_logit = state @ self.item_vectors(rows).T
        return (_to_cpu(result), self.head_logits(state, result.items).cpu(),
                rows_logit.cpu())

    @torch.no_grad()
    def item_log_probs(self, histories: list[np.ndarray]) -> Tensor:
        """The item head's log p(item | history) over the whole catalogue [B, N], on CPU."""
        mem, mem_pos = self._encode(histories)
        return self._log_probs(self.model.last_state(mem, mem_pos))

    def _log_probs(self, state: Tensor) -> Tensor:
        """log_softmax of state [B, d] against the cached item table -> [B, N] on CPU."""
        return torch.log_softmax(self.catalogue_logits(state), dim=-1).cpu()

    @torch.no_grad()
    def _encode(self, histories: list[np.ndarray], users: np.ndarray | None = None
                ) -> tuple[Tensor, Tensor]:
        """Memory [B, M, d] and slot positions [B, M] of the histories, on the model's device
        (a model trained on GPU ranks there)."""
        dev = next(self.model.parameters()).device
        items = pad_histories(histories, self.model.cfg.max_items)
        codes = self.codes[items.clamp(min=0)].to(dev)
        user_t = torch.from_numpy(np.asarray(users)).to(dev) if users is not None else None
        return self.model.encode(items.to(dev), codes, user_t)

    def recommend_fn(self, exclude_history: bool = True, constrained: bool = True):
        """Adapter for genrec.evaluate.evaluate: (histories, users, k) -> items [B, k]."""

        def fn(histories: list[np.ndarray], users: np.ndarray, k: int) -> np.ndarray:
            excl = [h.tolist() for h in histories] if exclude_history else None
            return self.recommend(histories, k, users, excl, constrained).items.numpy()

        return fn

    def readings_fn(self, exclude_history: bool = True):
        """Adapter for genrec.evaluate.evaluate_readings: (histories, users, k) -> readings."""

        def fn(histories: list[np.ndarray], users: np.ndarray, k: int) -> dict[str, np.ndarray]:
            excl = [h.tolist() for h in histories] if exclude_history else None
            return self.readings(histories, k, users, excl)

        return fn


def _rows(table: Tensor, rows: Tensor) -> Tensor:
    """table[rows] -> [*rows.shape, d] by index_select: 3-5x faster on CPU than advanced
    indexing for the [B, S] leaf gathers (0.042 -> 0.009 s for 64 x 900 rows of 10M)."""
    return table.index_select(0, rows.reshape(-1)).view(*rows.shape, table.shape[1])


def _dots(table: Tensor, rows: Tensor, state: Tensor) -> Tensor:
    """state[b] . table[rows[b, s]] for rows int [B, S], state [B, d] -> [B, S].

    On CPU the users go in blocks whose gathered rows stay under ~1 MB: one [B, S, d] gather
    (67 MB for 64 users x 2048 leaves) lands in freshly mapped pages whose first touch costs
    ~4x the arithmetic (42 -> 10 ms at 10k items, benchmarks/scaling.py)."""
    n_users, span = rows.shape
    block = n_users if table.is_cuda else max(1, (1 << 18) // max(1, span * table.shape[1]))
    return torch.cat([torch.bmm(_rows(table, rows[lo : lo + block]),
                                state[lo : lo + block, :, None])[..., 0]
                      for lo in range(0, n_users, block)])


def _head(result: BeamResult, k: int) -> BeamResult:
    """The first k of a result (already best first)."""
    return BeamResult(items=result.items[:, :k], scores=result.scores[:, :k],
                      tuples=result.tuples[:, :k], invalid_rate=result.invalid_rate,
                      excluded=result.excluded[:, :k])


def _to_cpu(result: BeamResult) -> BeamResult:
    if result.items.device.type == "cpu":
        return result
    return BeamResult(**{name: v.cpu() if isinstance(v, torch.Tensor) else v
                         for name, v in vars(result).items()})


def rerank(result: BeamResult, item_score: Tensor, weight: float, k: int) -> BeamResult:
    """Top-k of the beam's items by score + weight * item_score, item_score [B, C] aligned
    with result.items (a head logit or log-probability per candidate); padding (item -1,
    score -inf) stays last."""
    extra = item_score.to(result.scores.dtype)
    score = torch.where(result.items >= 0, result.scores + weight * extra, float("-inf"))
    order = stable_topk(score, k)  # [B, k]; ties keep the beam's order
    return BeamResult(items=result.items.gather(1, order), scores=score.gather(1, order),
                      tuples=result.tuples.gather(1, order[..., None].expand(
                          -1, -1, result.tuples.shape[-1])),
                      invalid_rate=result.invalid_rate, excluded=result.excluded.gather(1, order))
