"""Cached decoding for beam search: each step runs only the newest token of every beam.

`GenerativeRecommender.decode` re-runs the whole prefix [BOS, c_1..c_l] of every beam and
re-projects the history memory at every level. At inference neither is needed:

- the cross-attention keys/values depend only on the user's memory, so they are projected once
  per user (not once per beam, not once per level) and every beam of a user queries them;
- a token's self-attention key/value never changes once computed (causal decoder), so they
  stay in one table per level, which each beam reads through its ancestors' rows, and only its
  newest token goes through the layers.

beam_search only hands the step the prefixes, so a beam's parent is found by matching its
prefix minus the last token against the previous step's prefixes (any match is exact: equal
prefixes have equal caches). Logits equal `decode` + `level_logits` up to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genrec.model.model import PAD_POS, Attention, Block, GenerativeRecommender


class CachedStep:
    """A beam_search StepFn (prefix int64 [B, W, l], l) -> logits [B, W, V_l] for fixed memory.

    mem [B, M, d], mem_pos [B, M] from `model.encode`; tgt_pos int64 [B] (default: read the
    whole history). One instance serves one search; a call at level 0 starts a new one.
    """

    def __init__(self, model: GenerativeRecommender, mem: Tensor, mem_pos: Tensor,
                 tgt_pos: Tensor | None = None) -> None:
        self.model = model  # inference: no dropout is applied, whatever model.training says
        if tgt_pos is None:
            tgt_pos = torch.full((mem.shape[0],), PAD_POS - 1, device=mem.device)
        mask = (mem_pos <= tgt_pos[:, None])[:, None, None, :]  # [B, 1, 1, M]
        # No padding to hide: attention without a mask takes a faster kernel (same result).
        self.cross_mask: Tensor | None = None if bool(mask.all()) else mask
        with torch.no_grad():  # [B, h, M, hd] x2 per layer
            self.cross_kv = [_heads_kv(blk.cross, mem) for blk in model.decoder]
            # q and kv of the newest token in one matmul: [3 * h * hd, d] per layer
            self.qkv = [torch.cat([blk.attn.q.weight, blk.attn.kv.weight]) for blk in model.decoder]
        # Self-attention keys/values stay where they were computed, one tensor per level and
        # layer: kv[l][i] [rows_l, 2, h, hd]. A beam reads its ancestors' rows through anc[l]
        # (int64 [B * W], its ancestor's row at level l), so re-ranked beams move no cache.
        self.kv: list[list[Tensor]] = []
        self.anc: list[Tensor] = []
        self.prev: Tensor | None = None  # prefixes of the previous step [B, W_old, l - 1]

    @torch.no_grad()
    def __call__(self, prefix: Tensor, level: int) -> Tensor:
        m = self.model
        b, w, n_prev = prefix.shape
        if n_prev != level:
            raise ValueError(f"prefix has {n_prev} tokens at level {level}")
        if level == 0:
            self.kv, self.anc = [], []
            x = m.bos.expand(b, w, -1)
        else:
            parent = self._parents(prefix)
            self.anc = [a[parent] for a in self.anc] + [parent]
            x = m.tok(prefix[:, :, -1] + m.offsets[level - 1])
        x = x + m.level.weight[level]  # [B, W, d]: the newest slot of every beam
        new_kv = []
        for i, blk in enumerate(m.decoder):
            x, kv = self._block(blk, x, i)
            new_kv.append(kv)
        self.kv.append(new_kv)
        self.prev = prefix
        return m.level_logits(m.ln_dec(x), level)

    def _parents(self, prefix: Tensor) -> Tensor:
        """int64 [B * W]: each beam's parent (the old beam whose prefix it extends), as a row
        of the previous level's cache."""
        old = self.prev
        if old is None or old.shape[2] != prefix.shape[2] - 1:
            raise ValueError("CachedStep called out of order: levels must go 0, 1, 2, ...")
        same = (prefix[:, :, None, :-1] == old[:, None, :, :]).all(-1)  # [B, W, W_old]
        if not bool(same.any(-1).all()):
            raise ValueError("a prefix extends none of the previous step's beams")
        parent = same.int().argmax(-1)  # [B, W]
        rows = torch.arange(prefix.shape[0], device=prefix.device)[:, None] * old.shape[1]
        return (rows + parent).flatten()

    def _block(self, blk: Block, x: Tensor, i: int) -> tuple[Tensor, Tensor]:
        """One pre-LN decoder block on the newest tokens x [B, W, d]; returns x and their
        self-attention keys and values [B * W, 2, h, hd]."""
        b, w, _ = x.shape
        att = blk.attn
        q, kv = F.linear(blk.ln1(x), self.qkv[i]).split([att.h * att.hd, 2 * att.h * att.hd], -1)
        q = q.reshape(b * w, att.h, att.hd) / math.sqrt(att.hd)
        kv = kv.reshape(b * w, 2, att.h, att.hd)
        # One query per beam against its <= L ancestors' keys and its own: elementwise beats
        # bmm's tiny matrices.
        keys = [self.kv[lvl][i].index_select(0, rows) for lvl, rows in enumerate(self.anc)]
        keys.append(kv)  # each [B * W, 2, h, hd]
        score = torch.stack([(q * k[:, 0]).sum(-1) for k in keys], 1).softmax(1)  # [BW, t, h]
        y = sum(score[:, t, :, None] * k[:, 1] for t, k in enumerate(keys))  # [B * W, h, hd]
        x = x + att.out(y.view(b, w, -1))
        cross = blk.cross
        cq = cross.q(blk.ln2(x)).view(b, w, cross.h, cross.hd).transpose(1, 2)  # [B, h, W, hd]
        ck, cv = self.cross_kv[i]
        y = F.scaled_dot_product_attention(cq, ck, cv, attn_mask=self.cross_mask)
        x = x + cross.out(y.transpose(1, 2).reshape(b, w, -1))
        return x + blk.mlp(blk.ln3(x)), kv


def _heads_kv(attn: Attention, mem: Tensor) -> tuple[Tensor, Tensor]:
    """Cross-attention keys and values of memory [B, M, d], each [B, heads, M, head_dim]."""
    k, v = attn.kv(mem).unflatten(-1, (2, attn.h, attn.hd)).permute(2, 0, 3, 1, 4)
    return k, v
