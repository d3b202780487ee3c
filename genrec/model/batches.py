"""Training examples as padded tensors: windows of item histories and their targets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class Batch:
    items: Tensor  # int64 [B, T] history item indices, -1 = padding (right-padded)
    codes: Tensor  # int64 [B, T, L] codes of those items
    tgt_pos: Tensor  # int64 [B, G] history position each target follows
    tgt_codes: Tensor  # int64 [B, G, L] codes of the targets
    tgt_valid: Tensor  # bool [B, G]
    users: Tensor  # int64 [B] user index (for the hashed user token)
    tgt_items: Tensor  # int64 [B, G] target item indices (-1 = padding)

    @property
    def n_targets(self) -> int:
        return int(self.tgt_valid.sum())


def causal_windows(train: list[np.ndarray], max_items: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Cut each training sequence into windows of <= max_items + 1 items, from the end.

    Window w trains targets w[1:] from inputs w[:-1]; consecutive windows share one item so
    every training item but a user's first is a target exactly once per epoch.
    """
    windows, owners = [], []
    for u, seq in enumerate(train):
        end = len(seq)
        while end >= 2:
            start = max(0, end - max_items - 1)
            windows.append(seq[start:end])
            owners.append(u)
            end = start + 1 if start > 0 else 0
    return windows, np.array(owners, dtype=np.int64)


def prefix_examples(train: list[np.ndarray], max_items: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One example per target (bidirectional encoders): history window + target as last item."""
    examples, owners = [], []
    for u, seq in enumerate(train):
        for j in range(1, len(seq)):
            examples.append(seq[max(0, j - max_items) : j + 1])
            owners.append(u)
    return examples, np.array(owners, dtype=np.int64)


def pad_histories(histories: list[np.ndarray], max_items: int) -> Tensor:
    """Most recent max_items items of each history, right-padded with -1: int64 [B, T]."""
    t = max(1, min(max_items, max(len(h) for h in histories)))
    out = np.full((len(histories), t), -1, dtype=np.int64)
    for i, h in enumerate(histories):
        h = h[-max_items:]
        out[i, : len(h)] = h
    return torch.from_numpy(out)


def make_batch(windows: list[np.ndarray], users: np.ndarray, codes: Tensor, causal: bool
               ) -> Batch:
    """Causal: every next item of a window is a target. Otherwise only the last one is."""
    items = pad_histories([w[:-1] for w in windows], max_items=1 << 30)
    b, t = items.shape
    lengths = torch.tensor([len(w) - 1 for w in windows])
    if causal:
        nxt = pad_histories([w[1:] for w in windows], max_items=1 << 30)
        tgt_pos = torch.arange(t).expand(b, t)
        tgt_valid = nxt >= 0
    else:
        nxt = torch.tensor([int(w[-1]) for w in windows])[:, None]
        tgt_pos = (lengths - 1)[:, None]
        tgt_valid = torch.ones(b, 1, dtype=torch.bool)
    return Batch(
        items=items,
        codes=codes[items.clamp(min=0)],
        tgt_pos=tgt_pos,
        tgt_codes=codes[nxt.clamp(min=0)],
        tgt_valid=tgt_valid,
        users=torch.from_numpy(users),
        tgt_items=nxt,
    )


def batch_order(lengths: np.ndarray, batch_size: int, gen: torch.Generator, pool: int = 64
                ) -> list[np.ndarray]:
    """One epoch's batches as window indices: shuffled, batches of similar length (most
    histories are short, so padding every batch to the longest window would waste compute).

    Windows are shuffled, cut into pools of `pool` batches, sorted by length inside a pool,
    batched, and the batches shuffled again.
    """
    order = torch.randperm(len(lengths), generator=gen).numpy()
    batches = []
    for lo in range(0, len(order), batch_size * pool):
        chunk = order[lo : lo + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[b] for b in torch.randperm(len(batches), generator=gen).tolist()]


def iterate_batches(windows: list[np.ndarray], owners: np.ndarray, codes: Tensor, causal: bool,
                    batch_size: int, gen: torch.Generator, pool: int = 64) -> Iterator[Batch]:
    """The batches of `batch_order`, as tensors."""
    lengths = np.array([len(w) for w in windows])
    for idx in batch_order(lengths, batch_size, gen, pool):
        yield make_batch([windows[i] for i in idx], owners[idx], codes, causal)
