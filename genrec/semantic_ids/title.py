"""Title word IDs: "Iron Man" -> ["iron", "man", <eos>], padded to a fixed length.

Token 0 is <pad>, 1 is <eos>, words follow by descending frequency. Every word level shares
one vocabulary; the disambiguation token that follows makes each tuple name one item.
"""

from __future__ import annotations

import html
import re
from collections import Counter

import numpy as np

PAD, EOS = 0, 1
_WORD = re.compile(r"[a-z0-9]+")


def title_words(title: str, max_words: int) -> list[str]:
    return _WORD.findall(html.unescape(title).lower())[:max_words]


def title_codes(titles: list[str], max_words: int = 4) -> tuple[np.ndarray, list[str]]:
    """Codes int64 [n, max_words + 1] (words, <eos>, <pad>...) and the vocabulary."""
    words = [title_words(t, max_words) for t in titles]
    if not any(words):
        raise ValueError("no title has a word: title IDs need item titles")
    freq = Counter(w for ws in words for w in ws)
    vocab = ["<pad>", "<eos>", *sorted(freq, key=lambda w: (-freq[w], w))]
    token = {w: i for i, w in enumerate(vocab)}
    codes = np.full((len(titles), max_words + 1), PAD, dtype=np.int64)
    for i, ws in enumerate(words):
        codes[i, : len(ws)] = [token[w] for w in ws]
        codes[i, len(ws)] = EOS
    return codes, vocab
