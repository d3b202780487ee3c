"""A trained model + its semantic index + the constraint trie = top-K items for histories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genrec.decode import BeamResult, ConstraintIndex, beam_search
from genrec.model.batches import pad_histories
from genrec.model.incremental import CachedStep
from genrec.model.model import GenerativeRecommender
from genrec.semantic_ids import SemanticIndex


class Recommender:
    def __init__(self, model: GenerativeRecommender, index: SemanticIndex, beam: int = 20) -> None:
        self.model = model.eval()
        self.index = index
        self.codes = torch.from_numpy(index.codes)
        self.constraint = ConstraintIndex.build(index.codes, index.level_sizes)
        self.beam = beam
        self.invalid: list[float] = []  # invalid_rate per call (unconstrained mode)

    @torch.no_grad()
    def recommend(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        users: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        constrained: bool = True,
    ) -> BeamResult:
        """Beam search for each history; `exclude` per user (e.g. the history itself)."""
        dev = next(self.model.parameters()).device  # a model trained on GPU ranks there
        items = pad_histories(histories, self.model.cfg.max_items)
        codes = self.codes[items.clamp(min=0)].to(dev)
        user_t = torch.from_numpy(np.asarray(users)).to(dev) if users is not None else None
        mem, mem_pos = self.model.encode(items.to(dev), codes, user_t)

        step = CachedStep(self.model, mem, mem_pos)  # == decode + level_logits, cached

        result = beam_search(step, len(histories), self.constraint, beam=max(self.beam, k), k=k,
                             exclude=exclude, constrained=constrained, device=dev)
        if dev.type != "cpu":
            result = type(result)(**{name: v.cpu() if isinstance(v, torch.Tensor) else v
                                     for name, v in vars(result).items()})
        self.invalid.append(result.invalid_rate)
        return result

    def recommend_fn(self, exclude_history: bool = True, constrained: bool = True):
        """Adapter for genrec.evaluate.evaluate: (histories, users, k) -> items [B, k]."""

        def fn(histories: list[np.ndarray], users: np.ndarray, k: int) -> np.ndarray:
            excl = [h.tolist() for h in histories] if exclude_history else None
            return self.recommend(histories, k, users, excl, constrained).items.numpy()

        return fn
