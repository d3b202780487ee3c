"""genrec: generative recommendation with semantic IDs.

Pipeline (each stage is a subpackage): data -> embed -> semantic_ids -> model -> decode ->
evaluate / serve. The CLI (`genrec ...`) is a thin layer over these modules.
"""

__version__ = "0.1.0"
