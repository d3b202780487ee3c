"""Embed a catalogue straight into a .npy file, a chunk of texts at a time.

For catalogues whose vectors do not fit in memory (1M items x 384 floats = 1.5 GB): each
chunk is embedded, written at its rows and synced, and the rows done are recorded, so a
killed run resumes at the next chunk. Memory is bounded by the chunk, not the catalogue.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from genrec.chunked import create_npy, write_rows
from genrec.embed.text import DEFAULT_MODEL, load_encoder
from genrec.io import progress, read_json, write_json


def _fingerprint(texts: Sequence[str], model: str) -> str:
    h = hashlib.sha256(model.encode())
    for t in texts:
        h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


def embed_texts_to_npy(texts: Sequence[str], path: str | Path, model: str = DEFAULT_MODEL,
                       chunk: int = 8192, batch_size: int = 128) -> Path:
    """L2-normalised float32 vectors [len(texts), d] written to `path` (.npy).

    While running, rows go to PATH.partial and progress to PATH.progress.json; a rerun with
    the same texts and model continues where the last one stopped.
    """
    path = Path(path)
    if not texts:
        raise ValueError("no texts to embed")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    partial = path.with_name(path.name + ".partial")
    marker = path.with_name(path.name + ".progress.json")
    key = _fingerprint(texts, model)
    import torch

    encoder = load_encoder("cuda" if torch.cuda.is_available() else "cpu")
    done = 0
    if marker.exists() and partial.exists() and read_json(marker).get("key") == key:
        state = read_json(marker)
        done, offset = int(state["rows"]), int(state["offset"])
    else:
        dim_of = getattr(encoder, "get_embedding_dimension", None)  # newer name
        dim = int((dim_of or encoder.get_sentence_embedding_dimension)())
        offset = create_npy(partial, len(texts), dim)
        write_json(marker, {"key": key, "rows": 0, "offset": offset})
    for lo in progress(range(done, len(texts), chunk), desc="embed",
                       total=-(-(len(texts) - done) // chunk)):
        part = list(texts[lo : lo + chunk])
        vecs = encoder.encode(part, batch_size=batch_size, normalize_embeddings=True,
                              show_progress_bar=False, convert_to_numpy=True)
        write_rows(partial, offset, lo, vecs)
        write_json(marker, {"key": key, "rows": lo + len(part), "offset": offset})
    os.replace(partial, path)
    marker.unlink()
    return path
