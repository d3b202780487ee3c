"""Item-level evaluation shared by genrec and every baseline."""

from genrec.evaluate.metrics import RecommendFn, evaluate, ranking_metrics

__all__ = ["RecommendFn", "evaluate", "ranking_metrics"]
