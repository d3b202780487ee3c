"""Reference models evaluated in the same harness as genrec (same split, same metrics)."""

from genrec.baselines.popularity import Popularity

__all__ = ["Popularity"]
