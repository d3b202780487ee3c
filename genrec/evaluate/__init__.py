"""Item-level evaluation shared by genrec and every baseline."""

from genrec.evaluate.metrics import (
    ReadingsFn,
    RecommendFn,
    evaluate,
    evaluate_readings,
    ranking_metrics,
    readings_metrics,
)

__all__ = ["ReadingsFn", "RecommendFn", "evaluate", "evaluate_readings", "ranking_metrics",
           "readings_metrics"]
