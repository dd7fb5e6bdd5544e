"""Metrics: the evaluation report (coco-caption scores from captioner.training.scores, object hallucination and recall)."""

from captioner.evaluation.hallucination import object_scores

__all__ = ["object_scores"]
