"""Semantic IDs for items added after training, with the frozen quantizer (no retraining).

A new item gets the quantizer's code for its vector plus the smallest disambiguation token not
yet used under that code. The model's last level has a fixed vocabulary, so when every token
under the nearest code is taken the item moves to the next-nearest last-level code with a free
slot (the quantizer's last-level costs rank them), never to a token the model cannot emit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrec.errors import GenrecError

QUANTIZED = ("rqvae", "rkmeans")  # methods that save a reusable quantizer


class CodingError(GenrecError, ValueError):
    """A new item cannot get a semantic ID (no quantizer, bad vector, no free slot)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _packed(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """One int64 key per row of codes [n, m] (mixed radix over `sizes`); object ints if huge."""
    bits = [max(int(v) - 1, 1).bit_length() for v in sizes]
    if sum(bits) > 62:
        return np.array([hash(tuple(r)) for r in codes.tolist()], dtype=np.int64)
    key = np.zeros(len(codes), dtype=np.int64)
    for col, b in enumerate(bits):
        key = (key << b) | codes[:, col].astype(np.int64)
    return key


def assign_codes(
    raw: np.ndarray,
    cost: np.ndarray,
    taken: np.ndarray,
    level_sizes: Sequence[int],
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Full tuples int64 [n, L] for new items, unique against `taken` and each other.

    raw: int64 [n, L-1] quantizer codes; cost: float [n, K] last quantizer level's costs
    (lower = nearer); taken: int64 [N, L] tuples already in use (retired items included: the
    model may still read them in histories); level_sizes: the model's vocabulary per level.
    """
    n_levels = len(level_sizes)
    if raw.shape[1] != n_levels - 1:
        raise CodingError(f"quantizer gives {raw.shape[1]} levels, index has {n_levels - 1}")
    sizes = list(level_sizes[:-1])
    keys = _packed(taken[:, :-1], sizes)
    used: dict[int, set[int]] = {}
    out = np.empty((len(raw), n_levels), dtype=np.int64)
    for i in range(len(raw)):
        order = np.argsort(cost[i], kind="stable")  # nearest last-level code first
        out[i] = _first_free(raw[i], order, keys, taken, used, sizes, level_sizes[-1], ids, i)
    return out


def _first_free(raw_i: np.ndarray, order: np.ndarray, keys: np.ndarray, taken: np.ndarray,
                used: dict[int, set[int]], sizes: list[int], last_size: int,
                ids: Sequence[str] | None, i: int) -> np.ndarray:
    """The nearest prefix (raw_i with its last token from `order`) that still has a free slot."""
    prefix = raw_i.astype(np.int64).copy()
    for alt in [int(raw_i[-1])] + [int(a) for a in order if a != raw_i[-1]]:
        if alt >= sizes[-1]:
            continue
        prefix[-1] = alt
        key = int(_packed(prefix[None], sizes)[0])
        if key not in used:  # first visit: tokens of the existing items under this prefix
            used[key] = set(taken[keys == key, -1].tolist())
        free = next((t for t in range(last_size) if t not in used[key]), None)
        if free is not None:
            used[key].add(free)
            return np.append(prefix, free)
    who = ids[i] if ids is not None else f"#{i}"
    raise CodingError(f"item {who!r}: every semantic ID near its code is taken "
                      f"({last_size} disambiguation tokens per code); re-index to add it")


class NewItemCoder:
    """Item records -> code tuples with a run's frozen quantizer; the text encoder loads once."""

    def __init__(self, index_dir: str | Path, method: str) -> None:
        if method not in QUANTIZED:
            raise CodingError(
                f"this run's index uses method {method!r}, which keeps no quantizer, so new "
                f"items cannot be coded without re-indexing; index with rqvae or rkmeans")
        from genrec.semantic_ids.build import load_quantizer

        path = Path(index_dir) / "quantizer.safetensors"
        if not path.exists():
            raise CodingError(f"{path} is missing: the index was saved without its quantizer")
        self.quantizer = load_quantizer(index_dir, method)
        self.dim = _input_dim(self.quantizer)
        self._encoder = None
        self._lock = threading.Lock()  # one load; the tokenizer is not safe to share

    def warm(self) -> None:
        """Load the text encoder now (seconds) rather than on the first text item."""
        with self._lock:
            self._load()

    def _load(self) -> object:
        if self._encoder is None:
            from genrec.embed import load_encoder

            self._encoder = load_encoder()
        return self._encoder

    def vectors(self, records: Sequence[dict]) -> np.ndarray:
        """float32 [n, d]: a record's own `vector` if given, else its text through MiniLM."""
        out = np.zeros((len(records), self.dim), dtype=np.float32)
        texts = {}
        for i, rec in enumerate(records):
            if rec.get("vector") is not None:
                out[i] = self._check_vector(rec["vector"], i)
            else:
                texts[i] = rec
        if texts:
            out[list(texts)] = self._embed(list(texts.values()), list(texts))
        return out

    def encode(self, records: Sequence[dict], taken: np.ndarray, level_sizes: Sequence[int]
               ) -> np.ndarray:
        """Unique tuples int64 [n, L] for `records` (see assign_codes)."""
        codes, cost = self.quantizer.encode_with_cost(self.vectors(records))
        return assign_codes(codes, cost, taken, level_sizes, [str(r["id"]) for r in records])

    def _check_vector(self, vector: Sequence[float], i: int) -> np.ndarray:
        with np.errstate(over="ignore"):  # 1e300 becomes inf, refused just below
            v = np.asarray(vector, dtype=np.float32)
        if v.shape != (self.dim,) or not np.isfinite(v).all():
            raise CodingError(f"items[{i}].vector: need {self.dim} finite numbers, got shape "
                              f"{v.shape}", field=f"items[{i}].vector")
        return v

    def _embed(self, records: list[dict], rows: list[int]) -> np.ndarray:
        from genrec.embed import item_text

        if self.dim != 384:  # MiniLM's width; other widths came from a user's --vectors file
            raise CodingError(f"items[{rows[0]}].vector: this run's quantizer takes {self.dim}-d "
                              "vectors (not text embeddings), so each new item needs a 'vector'",
                              field=f"items[{rows[0]}].vector")
        texts = [item_text(r) for r in records]
        with self._lock:
            vecs = self._load().encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def _input_dim(quantizer: object) -> int:
    books = getattr(quantizer, "codebooks", None)
    if isinstance(books, np.ndarray):  # residual k-means: codebooks [levels, K, d]
        return int(books.shape[-1])
    return int(quantizer.cfg.input_dim)  # RQ-VAE
