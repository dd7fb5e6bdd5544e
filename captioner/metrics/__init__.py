"""Metrics: the evaluation report (coco-caption scores from captioner.scores, object hallucination and recall)."""

from captioner.metrics.objects import object_scores

__all__ = ["object_scores"]
