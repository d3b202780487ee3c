"""Seq2seq generative recommender: history of items -> next item's code tuple.

Encoder: a Transformer over the user's history, one position per item (sum of the item's code
embeddings) or, TIGER-style, one position per code token. Decoder: for each target it reads
[BOS, c_1, ..., c_{L-1}] and predicts c_1..c_L, cross-attending to the history.

With a causal encoder every position of a window is a training target in one pass (target t
may only read memory of items <= t); the decoder handles all targets at once as groups of L
query tokens with block-diagonal self-attention. Beam search reuses the same decoder, each beam
one group, against the user's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ModelConfig:
    level_sizes: list[int] = field(default_factory=lambda: [256, 256, 256, 8])  # vocab per level
    shared_vocab: bool = False  # title IDs: word levels share one token table
    n_items: int = 0  # catalogue size (item-ID input embeddings, if used)
    d_model: int = 128  # width of every layer
    n_heads: int = 4  # attention heads (head dim = d_model // n_heads unless head_dim set)
    head_dim: int = 0  # 0: d_model // n_heads (TIGER: 6 heads of 64 on d_model 128)
    d_ff: int = 512  # feed-forward width
    encoder_layers: int = 2
    decoder_layers: int = 2
    dropout: float = 0.1
    max_items: int = 20  # history window, in items
    token_inputs: bool = False  # True: one encoder position per code token (TIGER)
    causal: bool = True  # causal encoder: all next-item targets of a window in one pass
    user_buckets: int = 0  # >0: a hashed user token in front of the history (TIGER: 2000)
    item_embeddings: bool = False  # add a learned per-item vector to the item's code embedding
    item_loss: float = 0.0  # >0: also train the encoder with a softmax over all items (weight)
    generated_levels: int = 0  # >0: the decoder generates this many levels; the items below
    # each generated prefix are then scored by the item head (item-aware leaves); 0: all levels
    leaf_cap: int = 0  # >0: generated_levels is set from the index (genrec.run.model_config):
    # the fewest levels whose prefixes each hold at most leaf_cap items, so a query scores at
    # most beam * leaf_cap leaves whatever the catalogue size
    leaf_budget: int = 2048  # >0: a query opens the last generated level's prefixes best first
    # while their items add up to <= leaf_budget (the best one always), so its leaf work is flat
    # in the catalogue; 0: the `beam` best open. 2048: chosen on Beauty validation with the
    # item weight (benchmarks/leaf_budget.py)
    prefix_beam: int = 5  # >0: beams kept at the generated levels before the last one (catalogues
    # large enough for 2 generated levels), never more than `beam`; the last generated level's
    # decoder step runs on each of them, so this width sets its cost. 0: `beam`. 5: the smallest
    # width within 1% of 20 on Beauty validation with 2 generated levels (prefix_beam.py)
    loss_levels: int = 0  # levels the decoder's cross-entropy trains (0: the generated ones);
    # more than generated_levels also trains the code embeddings that the item head sums
    distill: float = 0.0  # >0: weight of a soft cross-entropy pulling each generated level
    # towards the item head's distribution summed under the trie prefixes (needs item_loss)

    def __post_init__(self) -> None:
        for name in ("leaf_budget", "prefix_beam"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def levels(self) -> int:
        return len(self.level_sizes)

    @property
    def offsets(self) -> list[int]:
        """First token id of each level in the one shared embedding table."""
        if self.shared_vocab:  # word levels share ids; the disambiguation level follows them
            return [0] * (self.levels - 1) + [self.level_sizes[0]]
        return [sum(self.level_sizes[:i]) for i in range(self.levels)]

    @property
    def decoded_levels(self) -> int:
        """Levels the decoder generates (the rest are chosen by the item head)."""
        return self.generated_levels or self.levels

    @property
    def vocab_size(self) -> int:
        return self.offsets[-1] + self.level_sizes[-1]


TIGER_PRESET = dict(  # Rajput et al. 2023, Beauty
    d_model=128, n_heads=6, head_dim=64, d_ff=1024, encoder_layers=4, decoder_layers=4,
    dropout=0.1, max_items=20, token_inputs=True, causal=False, user_buckets=2000,
)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.h = cfg.n_heads
        self.hd = cfg.head_dim or cfg.d_model // cfg.n_heads
        self.q = nn.Linear(cfg.d_model, self.h * self.hd, bias=False)
        self.kv = nn.Linear(cfg.d_model, 2 * self.h * self.hd, bias=False)
        self.out = nn.Linear(self.h * self.hd, cfg.d_model, bias=False)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor, mem: Tensor, mask: Tensor | None) -> Tensor:
        """x [B, Q, d] attends to mem [B, K, d]; mask bool [B or 1, Q, K], True = may attend
        (None: every query sees every key)."""
        b, q_len, _ = x.shape
        q = self.q(x).view(b, q_len, self.h, self.hd).transpose(1, 2)
        k, v = self.kv(mem).view(b, mem.shape[1], 2, self.h, self.hd).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        mask = mask[:, None] if mask is not None else None
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out(y.transpose(1, 2).reshape(b, q_len, self.h * self.hd))


class Block(nn.Module):
    """Pre-LN block: self-attention, optional cross-attention, feed-forward."""

    def __init__(self, cfg: ModelConfig, cross: bool) -> None:
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.d_model), Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model) if cross else None
        self.cross = Attention(cfg) if cross else None
        self.ln3 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, self_mask: Tensor | None, mem: Tensor | None = None,
                cross_mask: Tensor | None = None) -> Tensor:
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, self_mask))
        if self.cross is not None:
            x = x + self.drop(self.cross(self.ln2(x), mem, cross_mask))
        return x + self.drop(self.mlp(self.ln3(x)))


PAD_POS = 1 << 30  # memory position of padding: no target may read it


class GenerativeRecommender(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok = nn.Embedding(cfg.vocab_size, d)  # every code token, tied with the output
        self.level = nn.Embedding(cfg.levels, d)  # which level a token (or decoder slot) is
        self.pos = nn.Embedding(cfg.max_items, d)  # item position in the history window
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.item = nn.Embedding(cfg.n_items, d) if cfg.item_embeddings else None
        self.user = nn.Embedding(cfg.user_buckets, d) if cfg.user_buckets else None
        self.encoder = nn.ModuleList(Block(cfg, cross=False) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(Block(cfg, cross=True) for _ in range(cfg.decoder_layers))
        self.ln_enc, self.ln_dec = nn.LayerNorm(d), nn.LayerNorm(d)
        self.register_buffer("offsets", torch.tensor(cfg.offsets), persistent=False)
        level_mask = torch.full((cfg.levels, cfg.vocab_size), float("-inf"))
        for lvl, (off, size) in enumerate(zip(cfg.offsets, cfg.level_sizes, strict=True)):
            level_mask[lvl, off : off + size] = 0.0
        self.register_buffer("level_mask", level_mask, persistent=False)  # [L, V]
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- encoder ---------------------------------------------------------------------------
    def encode(self, items: Tensor, codes: Tensor, users: Tensor | None = None
               ) -> tuple[Tensor, Tensor]:
        """History -> memory [B, M, d] and each slot's item position [B, M] (PAD_POS = padding).

        items: int64 [B, T] (-1 = padding, right-padded); codes: int64 [B, T, L].
        """
        b, t = items.shape
        valid = items >= 0
        pos = torch.arange(t, device=items.device).expand(b, t)
        tokens = self.tok(codes.clamp(min=0) + self.offsets)  # [B, T, L, d]
        if self.cfg.token_inputs:
            x = (tokens + self.level.weight + self.pos(pos)[:, :, None]).flatten(1, 2)
            mem_pos = pos[:, :, None].expand(b, t, self.cfg.levels).flatten(1)
            valid = valid[:, :, None].expand(b, t, self.cfg.levels).flatten(1)
        else:
            x = tokens.sum(2) + self.pos(pos)
            if self.item is not None:
                x = x + self.item(items.clamp(min=0))
            mem_pos = pos
        mem_pos = mem_pos.masked_fill(~valid, PAD_POS)
        if self.user is not None and users is not None:
            x = torch.cat([self.user(users % self.cfg.user_buckets)[:, None], x], dim=1)
            mem_pos = F.pad(mem_pos, (1, 0), value=-1)  # the user token is visible to all
        return self._run_encoder(x * (mem_pos != PAD_POS)[..., None], mem_pos), mem_pos

    def _run_encoder(self, x: Tensor, mem_pos: Tensor) -> Tensor:
        visible = mem_pos[:, None, :] != PAD_POS  # [B, 1, M]
        if self.cfg.causal:
            visible = visible & (mem_pos[:, None, :] <= mem_pos[:, :, None])
        eye = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
        mask = visible | eye  # padding rows attend to themselves (never all-masked)
        if bool(mask.all()):  # nothing hidden (full histories): the unmasked kernel is faster
            mask = None
        for block in self.encoder:
            x = block(x, mask)
        return self.ln_enc(x)

    # --- decoder ---------------------------------------------------------------------------
    def decode(self, mem: Tensor, mem_pos: Tensor, tgt_pos: Tensor, prefix: Tensor) -> Tensor:
        """Hidden states [B, G, l+1, d] for G groups (targets or beams) of [BOS, prefix].

        tgt_pos: int64 [B, G], the history position each group predicts after (it reads memory
        slots with position <= tgt_pos); prefix: int64 [B, G, l] tokens chosen so far.
        """
        b, g, n_prev = prefix.shape
        slots = n_prev + 1
        emb = self.tok(prefix + self.offsets[:n_prev])  # [B, G, l, d]
        x = torch.cat([self.bos.expand(b, g, 1, -1), emb], dim=2) + self.level.weight[:slots]
        x = x.flatten(1, 2)  # [B, G*slots, d]
        group = torch.arange(g * slots, device=x.device) // slots
        slot = torch.arange(g * slots, device=x.device) % slots
        self_mask = (group[:, None] == group[None, :]) & (slot[None, :] <= slot[:, None])
        cross = mem_pos[:, None, :] <= tgt_pos.repeat_interleave(slots, dim=1)[:, :, None]
        for block in self.decoder:
            x = block(x, self_mask[None], mem, cross)
        return self.ln_dec(x).view(b, g, slots, -1)

    def level_logits(self, h: Tensor, level: int) -> Tensor:
        """Logits [..., level_sizes[level]] for the token of `level` (weights tied to input)."""
        off, size = self.cfg.offsets[level], self.cfg.level_sizes[level]
        return h @ self.tok.weight[off : off + size].T

    def loss(self, items: Tensor, codes: Tensor, tgt_pos: Tensor, tgt_codes: Tensor,
             tgt_valid: Tensor, users: Tensor | None = None, tgt_items: Tensor | None = None,
             all_codes: Tensor | None = None) -> Tensor:
        """Mean next-token cross-entropy over the valid targets' generated tokens.

        tgt_pos [B, G], tgt_codes [B, G, L], tgt_valid bool [B, G]. With cfg.item_loss > 0,
        plus that weight times a softmax over every item (SASRec-style) on the encoder state,
        which needs tgt_items [B, G] and the catalogue's codes all_codes [n_items, L]; with
        cfg.distill > 0, plus a soft cross-entropy of each generated level against the head.
        """
        n_gen = self.cfg.decoded_levels
        n_ce = max(self.cfg.loss_levels, n_gen)  # teacher-forced levels
        mem, mem_pos = self.encode(items, codes, users)
        prefix = tgt_codes[:, :, : n_ce - 1]
        h = self.decode(mem, mem_pos, tgt_pos, prefix)[tgt_valid]  # [N, n_ce, d]
        logits = h @ self.tok.weight.T + self.level_mask[:n_ce]  # [N, n_ce, V]
        target = (tgt_codes[tgt_valid][:, :n_ce] + self.offsets[:n_ce]).flatten()
        loss = F.cross_entropy(logits.flatten(0, 1), target)
        logits = logits[:, :n_gen]  # distillation: the generated levels only
        if self.cfg.item_loss > 0 or self.cfg.distill > 0:
            if self.cfg.token_inputs or not self.cfg.causal:
                raise ValueError("item_loss needs item-level inputs and a causal encoder")
            assert tgt_items is not None and all_codes is not None
            state = self._target_states(mem, tgt_pos)[tgt_valid]  # [N, d]
            item_logits = state @ self.item_table(all_codes).T  # [N, n_items]
            tgt = tgt_items[tgt_valid]
            loss = loss + self.cfg.item_loss * F.cross_entropy(item_logits, tgt)
            if self.cfg.distill > 0:
                teacher = item_logits.detach().softmax(-1)
                loss = loss + self.cfg.distill * self._distill_loss(logits, teacher, tgt,
                                                                    all_codes)
        return loss

    def _target_states(self, mem: Tensor, tgt_pos: Tensor) -> Tensor:
        """Encoder state after each target's history [B, G, d] (the item head's query)."""
        if self.user is not None:
            mem = mem[:, 1:]  # drop the user token: slot t is item t again
        return torch.gather(mem, 1, tgt_pos[..., None].expand(-1, -1, mem.shape[-1]))

    def _distill_loss(self, logits: Tensor, teacher: Tensor, tgt: Tensor, all_codes: Tensor
                      ) -> Tensor:
        """Soft cross-entropy of the decoder's level-l logits [N, n_gen, V] against the head's
        p(c_l | the target's first l tokens): teacher [N, n_items] summed per child token
        over the items that share the target's prefix (a TDM-style max-heap: beam search on
        these levels then ranks prefixes by the head's mass below them)."""
        total = logits.new_zeros(())
        prefix_key = torch.zeros(len(all_codes), dtype=torch.long, device=all_codes.device)
        for lvl in range(logits.shape[1]):
            off, size = self.cfg.offsets[lvl], self.cfg.level_sizes[lvl]
            below = teacher  # level 0: every item shares the empty prefix
            if lvl:
                below = teacher * (prefix_key[None, :] == prefix_key[tgt][:, None])  # [N, n_items]
            mass = torch.zeros(len(tgt), size, dtype=teacher.dtype, device=teacher.device)
            mass.index_add_(1, all_codes[:, lvl], below)  # [N, V_l]
            mass = mass / mass.sum(-1, keepdim=True).clamp(min=1e-12)
            logp = logits[:, lvl, off : off + size].log_softmax(-1)
            total = total - (mass * logp).sum(-1).mean()
            prefix_key = prefix_key * size + all_codes[:, lvl]
        return total / logits.shape[1]

    def item_table(self, all_codes: Tensor, chunk: int = 1 << 20,
                   order: Tensor | None = None) -> Tensor:
        """Every item's output vector [n_items, d]: its code embeddings summed, plus its
        learned vector. An item added after training is scored through its codes (content).
        order int64 [n_items]: row j holds item order[j] (default: row i = item i). Without
        autograd it is built `chunk` rows at a time ([chunk, L, d] at most)."""
        if order is None and (torch.is_grad_enabled() or len(all_codes) <= chunk):
            return self._item_rows(all_codes, slice(0, len(all_codes)))
        pick = (lambda lo: slice(lo, lo + chunk)) if order is None else \
            (lambda lo: order[lo : lo + chunk])
        return torch.cat([self._item_rows(all_codes, pick(lo))
                          for lo in range(0, len(all_codes), chunk)])

    def _item_rows(self, all_codes: Tensor, items: slice | Tensor) -> Tensor:
        """Output vectors [M, d] of items (a slice or int64 [M]) of the catalogue all_codes."""
        rows = self.code_vectors(all_codes[items])
        if self.item is not None:
            rows = rows + self.item.weight[: len(all_codes)][items]
        return rows

    def code_vectors(self, codes: Tensor) -> Tensor:
        """Sum of each tuple's code-token embeddings: codes int64 [..., L] -> [..., d]."""
        return self.tok(codes + self.offsets).sum(-2)

    def last_state(self, mem: Tensor, mem_pos: Tensor) -> Tensor:
        """The item head's query [B, d]: the encoder state after the newest history item."""
        if self.cfg.item_loss <= 0:
            raise ValueError("item scores need a model trained with item_loss > 0")
        last = torch.where(mem_pos == PAD_POS, -2, mem_pos).argmax(1)  # [B] newest item's slot
        return mem[torch.arange(len(mem), device=mem.device), last]


def flops_per_target(cfg: ModelConfig) -> int:
    """Forward FLOPs per training target (2 per multiply-add), matmuls only, as in nanoGPT.

    Per encoder position: 4 d*h*hd (q,k,v,out) + 2 d*d_ff per layer; per decoder token that
    plus the cross-attention projections and the tied output layer over the vocabulary; with
    an item head, d*n_items for its training softmax (inference reads only candidates).
    Attention scores (~M per token) are small next to these for windows of 20 items.
    """
    d, hd = cfg.d_model, (cfg.head_dim or cfg.d_model // cfg.n_heads) * cfg.n_heads
    enc_tok = cfg.encoder_layers * (4 * d * hd + 2 * d * cfg.d_ff)
    dec_tok = cfg.decoder_layers * (8 * d * hd + 2 * d * cfg.d_ff) + d * cfg.vocab_size
    enc_per_target = enc_tok * (cfg.levels if cfg.token_inputs else 1)
    if not cfg.causal:  # a whole window is encoded for every single target
        enc_per_target *= cfg.max_items
    head = d * cfg.n_items if cfg.item_loss > 0 else 0  # training softmax over all items
    return 2 * (enc_per_target + dec_tok * max(cfg.loss_levels, cfg.decoded_levels) + head)
