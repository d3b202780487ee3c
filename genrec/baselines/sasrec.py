"""SASRec (Kang & McAuley 2018) trained with full softmax: the strong ID-based baseline.

Cross-entropy over the whole catalogue at every position of the history (the "SASRec+" /
eSASRec recipe), not the one-negative BCE loss of the original paper, which underrates it.
Retrieval is exact: the last position's state dotted with every item vector, top-K.

Shapes: B users, T history positions (left-padded, the newest item last), d = d_model,
N = n_items. Item i is token i + 1; token 0 is padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class SASRecConfig:
    n_items: int = 0  # catalogue size N (set from the data)
    d_model: int = 64  # item / hidden width
    n_layers: int = 2  # self-attention blocks
    n_heads: int = 2  # attention heads (d_model must divide evenly)
    d_ff: int = 256  # feed-forward width
    dropout: float = 0.3  # on embeddings, attention and feed-forward (Beauty is sparse)
    max_len: int = 50  # history window, most recent items


class Block(nn.Module):
    """Pre-norm causal self-attention + feed-forward."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(),
                                nn.Linear(cfg.d_ff, cfg.d_model), nn.Dropout(cfg.dropout))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x [B, T, d], mask bool [B, 1, T, T] (True = may attend)."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, d // self.n_heads
                                               ).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.ff(self.norm2(x))


class SASRec(nn.Module):
    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        if cfg.n_items <= 0 or cfg.d_model % cfg.n_heads:
            raise ValueError(f"bad SASRec config: n_items={cfg.n_items}, d_model={cfg.d_model}"
                             f" not divisible by n_heads={cfg.n_heads}")
        self.cfg = cfg
        self.item = nn.Embedding(cfg.n_items + 1, cfg.d_model, padding_idx=0)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)  # by recency: 0 = newest item
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.item.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens int64 [B, T] (0 = pad, left-padded) -> states [B, T, d]."""
        b, t = tokens.shape
        recency = torch.arange(t - 1, -1, -1, device=tokens.device)
        x = self.item(tokens) * math.sqrt(self.cfg.d_model) + self.pos(recency)
        x = self.drop(x) * (tokens > 0).unsqueeze(-1)
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        # a padded query still sees itself, so no attention row is empty (no NaN)
        mask = (causal & (tokens > 0)[:, None, :]) | torch.eye(t, dtype=torch.bool,
                                                               device=tokens.device)
        for block in self.blocks:
            x = block(x, mask.unsqueeze(1))
        return self.norm(x)

    def item_vectors(self) -> Tensor:
        """[N, d]: the output (= input) embedding of every item."""
        return self.item.weight[1:]

    def loss(self, tokens: Tensor, targets: Tensor) -> Tensor:
        """Full-softmax cross-entropy at every non-pad position; targets [B, T] item+1, 0 = pad."""
        h = self(tokens)
        keep = targets > 0
        logits = h[keep] @ self.item_vectors().T  # [n_targets, N]
        return F.cross_entropy(logits, targets[keep] - 1)

    @torch.no_grad()
    def top_k(self, histories: list[np.ndarray], k: int, exclude_history: bool = True
              ) -> np.ndarray:
        """Exact top-k items [B, k] over the whole catalogue for each history."""
        tokens = pad_left([h[-self.cfg.max_len:] + 1 for h in histories])
        scores = self(tokens)[:, -1] @ self.item_vectors().T  # [B, N]
        if exclude_history:
            rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
            scores[rows, np.concatenate(histories)] = -torch.inf
        return scores.topk(k, dim=1).indices.numpy()


def pad_left(seqs: list[np.ndarray]) -> Tensor:
    """int64 [B, max len] with each sequence right-aligned and zeros before it."""
    width = max(len(s) for s in seqs)
    out = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        if len(s):
            out[row, -len(s):] = s
    return torch.from_numpy(out)


def training_pairs(train: list[np.ndarray], max_len: int) -> list[np.ndarray]:
    """Each user's training sequence (last max_len + 1 items): input s[:-1], target s[1:]."""
    return [s[-(max_len + 1):] for s in train if len(s) >= 2]


def iterate_batches(seqs: list[np.ndarray], batch_size: int, gen: torch.Generator
                    ) -> list[tuple[Tensor, Tensor]]:
    """Shuffled batches of similar length (little padding); (tokens, targets) each [B, T]."""
    order = torch.randperm(len(seqs), generator=gen).numpy()
    chunk = batch_size * 50  # sort by length within chunks: padding stays small, order random
    batches = []
    for lo in range(0, len(order), chunk):
        part = sorted(order[lo : lo + chunk], key=lambda u: len(seqs[u]))
        for b in range(0, len(part), batch_size):
            group = [seqs[u] + 1 for u in part[b : b + batch_size]]
            batches.append((pad_left([g[:-1] for g in group]), pad_left([g[1:] for g in group])))
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]
