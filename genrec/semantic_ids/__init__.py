"""Semantic IDs: rqvae | rkmeans | hkmeans | title | random, plus disambiguation."""

from genrec.semantic_ids.build import (
    METHODS,
    IndexConfig,
    build_index,
    fit_to_catalogue,
    load_quantizer,
)
from genrec.semantic_ids.index import SemanticIndex, code_stats, disambiguate
from genrec.semantic_ids.plot import plot_index

__all__ = [
    "METHODS",
    "IndexConfig",
    "SemanticIndex",
    "build_index",
    "code_stats",
    "disambiguate",
    "fit_to_catalogue",
    "load_quantizer",
    "plot_index",
]
