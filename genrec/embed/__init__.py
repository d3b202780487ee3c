"""Item vectors: MiniLM text embeddings (cached) or user-supplied vectors."""

from genrec.embed.text import embed_texts, item_text, load_encoder
from genrec.embed.vectors import load_item_vectors

__all__ = ["embed_texts", "item_text", "load_encoder", "load_item_vectors"]
