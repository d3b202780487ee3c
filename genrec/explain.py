"""Readable semantic IDs: a short label for every code prefix, from the items under it.

A prefix's label is what sets its items apart from its ancestors': the deepest category most
of them share (not already named above), else their dominant brand (with its most distinctive
title word), else their two most distinctive title words (tf-idf against the catalogue). An
item's path joins its prefixes' labels and ends in its disambiguation token:
"Makeup › Nails › OPI polish › #3". Labels are saved beside the index as index/labels.json.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data.spec import category_paths
from genrec.io import atomic_path, read_json, write_json

SEP = " › "
MAX_LABEL = 40
STOP = frozenset(
    "the and for with from this that your you our all new of in to a an by on at or oz fl ml "
    "ounce ounces pack count set piece pieces pcs inch size each one two free plus".split()
)
_WORD = re.compile(r"[a-z][a-z0-9'&-]{2,}")


@dataclass(frozen=True)
class _Text:
    """What labels are made of, per item: categories (name -> depth), brand, title words."""

    cats: dict[str, int]
    brand: str | None
    words: frozenset[str]


def _text_of(record: dict[str, Any]) -> _Text:
    brand = html.unescape(str(record.get("brand") or "")).strip()
    if not brand or brand.lower() == "unknown" or re.fullmatch(r"brand_\d+", brand):
        brand = ""
    # strings ("Beauty > Makeup", "Comedy|Drama") are parsed, never read character by character
    paths = category_paths(record.get("categories") or record.get("genres"))
    cats: dict[str, int] = {}
    for path in paths:
        for depth, name in enumerate(path):
            name = html.unescape(str(name)).strip()
            cats[name] = max(cats.get(name, 0), depth)
    title = html.unescape(str(record.get("title") or "")).lower()
    skip = STOP | set(_WORD.findall(brand.lower()))
    words = frozenset(w for w in _WORD.findall(title) if w not in skip)
    return _Text(cats, brand or None, words)


class LabelMaker:
    """Catalogue-wide word and category frequencies, so labels can say what is distinctive."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.texts = [_text_of(r) for r in records]
        self.n = max(len(self.texts), 1)
        self.df = Counter(w for t in self.texts for w in t.words)
        self.cat_share = {c: k / self.n for c, k in Counter(
            c for t in self.texts for c in t.cats).items()}

    def label(self, texts: Sequence[_Text], above: Sequence[str], fallback: str) -> str:
        """Label for a group of items whose ancestors are labelled `above`."""
        seen = {a.lower() for a in above} | {w for a in above for w in _WORD.findall(a.lower())}
        label = (self._category(texts, seen) or self._brand(texts, seen)
                 or " ".join(self._words(texts, seen, 2)) or fallback)
        return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"

    def _category(self, texts: Sequence[_Text], seen: set[str]) -> str | None:
        counts = Counter(c for t in texts for c in t.cats)
        depth = {c: d for t in texts for c, d in t.cats.items()}
        named = [depth[c] for c in depth if c.lower() in seen]  # categories named above
        below = max(named, default=-1)  # only go deeper than them: "Nails" after "Polish" jars
        ok = [c for c, k in counts.items() if 2 * k >= len(texts) and c.lower() not in seen
              and depth[c] > below
              and self.cat_share.get(c, 0.0) < 0.8]  # a category nearly all items share says nil
        return max(ok, key=lambda c: (depth[c], counts[c], c)) if ok else None

    def _brand(self, texts: Sequence[_Text], seen: set[str]) -> str | None:
        counts = Counter(t.brand for t in texts if t.brand)
        if not counts:
            return None
        brand, k = max(counts.items(), key=lambda bk: (bk[1], bk[0]))
        words = set(_WORD.findall(brand.lower()))
        if 2 * k < len(texts) or brand.lower() in seen or (words and words <= seen):
            return None  # a brand named above (alone or in a label) says nothing new
        word = self._words(texts, seen, 1)
        return f"{brand} {word[0]}" if word else brand

    def _words(self, texts: Sequence[_Text], seen: set[str], top: int) -> list[str]:
        counts = Counter(w for t in texts for w in t.words if w not in seen)
        least = 1 if len(texts) <= 2 else 2  # a word on one item of many is noise
        scored = [(k / len(texts) * math.log(self.n / self.df.get(w, 1) + 1.0), w)
                  for w, k in counts.items() if k >= least]
        return [w for _, w in sorted(scored, key=lambda s: (-s[0], s[1]))[:top]]


@dataclass
class Labels:
    """Label per code prefix (tuples of length 1 .. levels); levels = tuple length - 1."""

    levels: int
    names: dict[tuple[int, ...], str] = field(default_factory=dict)
    fingerprint: str = ""  # codes_fingerprint of the codes they were made for

    def parts(self, code: Sequence[int]) -> list[str]:
        code = [int(c) for c in code]
        named = [self.names.get(tuple(code[: d + 1]), "?") for d in range(self.levels)]
        return named + [f"#{code[-1]}"]

    def path(self, code: Sequence[int]) -> str:
        return SEP.join(self.parts(code))

    def extend(self, codes: np.ndarray, records: Sequence[dict[str, Any]],
               maker: LabelMaker) -> Labels:
        """A copy that also labels prefixes first used by `codes` [n, L] (e.g. new items)."""
        names = dict(self.names)
        _label_groups(codes, [_text_of(r) for r in records], maker, names)
        return Labels(self.levels, names, self.fingerprint)

    def save(self, path: str | Path) -> None:
        flat = {"/".join(map(str, k)): v for k, v in sorted(self.names.items())}
        write_json(path, {"levels": self.levels, "fingerprint": self.fingerprint, "labels": flat})

    @classmethod
    def load(cls, path: str | Path) -> Labels:
        raw = read_json(path)
        names = {tuple(int(t) for t in k.split("/")): v for k, v in raw["labels"].items()}
        return cls(int(raw["levels"]), names, raw.get("fingerprint", ""))


def codes_fingerprint(codes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()[:16]


def build_labels(codes: np.ndarray, records: Sequence[dict[str, Any]],
                 maker: LabelMaker | None = None) -> Labels:
    """Labels for every prefix of `codes` int64 [N, L] from the items' `records` [N]."""
    if len(records) != len(codes):
        raise ValueError(f"{len(records)} records for {len(codes)} code tuples")
    maker = maker or LabelMaker(records)
    names: dict[tuple[int, ...], str] = {}
    _label_groups(codes, maker.texts, maker, names)
    return Labels(codes.shape[1] - 1, names, codes_fingerprint(codes))


def _label_groups(codes: np.ndarray, texts: Sequence[_Text], maker: LabelMaker,
                  names: dict[tuple[int, ...], str]) -> None:
    """Label, level by level, each prefix of `codes` not yet in `names` (in place)."""
    for depth in range(1, codes.shape[1]):
        groups: dict[tuple[int, ...], list[int]] = {}
        for row, prefix in enumerate(map(tuple, codes[:, :depth].tolist())):
            if prefix not in names:
                groups.setdefault(prefix, []).append(row)
        for prefix, rows in sorted(groups.items()):
            above = [names[prefix[:d]] for d in range(1, depth) if prefix[:d] in names]
            names[prefix] = maker.label([texts[r] for r in rows], above, f"code {prefix[-1]}")


def labels_for(index_dir: str | Path, codes: np.ndarray, records: Sequence[dict[str, Any]],
               save: bool = True) -> Labels:
    """index_dir/labels.json if made for these codes, else built (and, with `save`, saved with
    a PNG of the hierarchy when the folder is writable)."""
    path = Path(index_dir) / "labels.json"
    if path.exists():
        labels = Labels.load(path)
        if labels.fingerprint == codes_fingerprint(codes):
            return labels
    labels = build_labels(codes, records)
    if not save:  # read-only commands leave the run as they found it
        return labels
    try:
        labels.save(path)
        plot_hierarchy(labels, codes, Path(index_dir) / "hierarchy.png")
    except OSError:
        pass  # a read-only run folder still gets its labels, in memory
    return labels


def plot_hierarchy(labels: Labels, codes: np.ndarray, path: str | Path, top: int = 16) -> None:
    """The `top` largest first-level prefixes (rows, by item count), each split into its
    second-level prefixes (segments, by share of the row's items), all labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = Counter(codes[:, 0].tolist()).most_common(top)
    fig, ax = plt.subplots(figsize=(13, 0.42 * len(first) + 1.2))
    colors = plt.get_cmap("tab20").colors
    for y, (tok, count) in enumerate(first):
        kids = Counter(map(tuple, codes[codes[:, 0] == tok][:, :2].tolist())).most_common()
        x = 0.0
        for j, (kid, k) in enumerate(kids if labels.levels > 1 else [((tok,), count)]):
            width = k / count
            ax.barh(y, width, left=x, height=0.85, color=colors[j % 20], edgecolor="white")
            chars = int(width * 150)  # ~150 characters of 7-pt text across the axis
            if chars >= 4:
                text = labels.names.get(kid, str(kid[-1]))
                text = text if len(text) <= chars else text[: chars - 1] + "…"
                ax.text(x + width / 2, y, text, ha="center", va="center", fontsize=7)
            x += width
    ax.set_yticks(range(len(first)))
    ax.set_yticklabels([f"{labels.names.get((t,), str(t))} ({k})" for t, k in first], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the first-level prefix's items, by second-level prefix")
    ax.set_title(f"Semantic-ID hierarchy: the {len(first)} largest of "
                 f"{len(np.unique(codes[:, 0]))} first-level prefixes")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
