"""A trained model + its semantic index + the constraint trie = top-K items for histories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from genrec.decode import BeamResult, ConstraintIndex, beam_search
from genrec.decode.select import stable_topk
from genrec.model.batches import pad_histories
from genrec.model.incremental import CachedStep
from genrec.model.model import GenerativeRecommender
from genrec.semantic_ids import SemanticIndex


class Recommender:
    """item_weight > 0 (models trained with item_loss): the beam's `beam` items are re-ranked
    by log p_beam(tuple) + item_weight * log p_item(item | history), the auxiliary item head's
    softmax over the catalogue. Candidates still come from the trie, so every item is valid."""

    def __init__(self, model: GenerativeRecommender, index: SemanticIndex, beam: int = 20,
                 item_weight: float = 0.0) -> None:
        self.model = model.eval()
        self.index = index
        self.codes = torch.from_numpy(index.codes)
        self.constraint = ConstraintIndex.build(index.codes, index.level_sizes)
        self.beam = beam
        if item_weight < 0:
            raise ValueError(f"item_weight must be >= 0, got {item_weight}")
        if item_weight and model.cfg.item_loss <= 0:
            raise ValueError("item_weight > 0 needs a model trained with item_loss > 0")
        self.item_weight = item_weight
        self.invalid: list[float] = []  # invalid_rate per call (unconstrained mode)

    def recommend(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        users: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        constrained: bool = True,
    ) -> BeamResult:
        """Beam search for each history; `exclude` per user (e.g. the history itself)."""
        return self.recommend_with_item_log_probs(histories, k, users, exclude, constrained,
                                                  want_item=False)[0]

    @torch.no_grad()
    def recommend_with_item_log_probs(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        users: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        constrained: bool = True,
        want_item: bool = True,
    ) -> tuple[BeamResult, Tensor | None]:
        """recommend() and, from the same encoding, the item head's log p(item | history)
        [B, N] on CPU (None unless wanted or used for re-ranking)."""
        mem, mem_pos = self._encode(histories, users)
        dev = mem.device
        step = CachedStep(self.model, mem, mem_pos)  # == decode + level_logits, cached

        width = max(self.beam, k)
        result = beam_search(step, len(histories), self.constraint, beam=width,
                             k=width if self.item_weight else k, exclude=exclude,
                             constrained=constrained, device=dev)
        item_logp = None
        if self.item_weight or want_item:
            item_logp = self.model.item_log_probs(mem, mem_pos, self.codes.to(dev))
        if self.item_weight:
            result = rerank(result, item_logp, self.item_weight, k)
        if dev.type != "cpu":
            result = type(result)(**{name: v.cpu() if isinstance(v, torch.Tensor) else v
                                     for name, v in vars(result).items()})
            item_logp = item_logp.cpu() if item_logp is not None else None
        self.invalid.append(result.invalid_rate)
        return result, item_logp

    @torch.no_grad()
    def item_log_probs(self, histories: list[np.ndarray]) -> Tensor:
        """The item head's log p(item | history) over the whole catalogue [B, N], on CPU."""
        mem, mem_pos = self._encode(histories)
        return self.model.item_log_probs(mem, mem_pos, self.codes.to(mem.device)).cpu()

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


def rerank(result: BeamResult, item_logp: Tensor, weight: float, k: int) -> BeamResult:
    """Top-k of the beam's items by score + weight * item_logp[user, item] (item_logp
    [B, n_items]); padding (item -1, score -inf) stays last."""
    extra = item_logp.gather(1, result.items.clamp(min=0)).to(result.scores.dtype)
    score = torch.where(result.items >= 0, result.scores + weight * extra, float("-inf"))
    order = stable_topk(score, k)  # [B, k]; ties keep the beam's order
    return BeamResult(items=result.items.gather(1, order), scores=score.gather(1, order),
                      tuples=result.tuples.gather(1, order[..., None].expand(
                          -1, -1, result.tuples.shape[-1])),
                      invalid_rate=result.invalid_rate, excluded=result.excluded.gather(1, order))
