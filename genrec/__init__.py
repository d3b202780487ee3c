"""genrec: generative recommendation with semantic IDs.

Pipeline (each stage is a subpackage): data -> embed -> semantic_ids -> model -> decode ->
evaluate / serve. The CLI (`genrec ...`) is a thin layer over these modules.

    import genrec
    rec = genrec.load("runs/beauty")
    rec.recommend(["1", "2"], k=10)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genrec.api import Run

__version__ = "0.1.0"
__all__ = ["__version__", "load"]


def load(run: str | Path, *, data_dir: str | Path | None = None, beam: int | None = None,
         persist: bool = True) -> Run:
    """A trained run folder, ready to recommend, explain, add and remove items (genrec.api.Run;
    torch loads on first use of genrec.load, not on `import genrec`)."""
    from genrec.api import load as _load

    return _load(run, data_dir=data_dir, beam=beam, persist=persist)
