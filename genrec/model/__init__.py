"""The seq2seq generative recommender and its training loop."""

from genrec.model.model import TIGER_PRESET, GenerativeRecommender, ModelConfig, flops_per_target

__all__ = ["TIGER_PRESET", "GenerativeRecommender", "ModelConfig", "flops_per_target"]
