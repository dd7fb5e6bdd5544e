"""Metrics: coco-caption BLEU-1..4, METEOR, ROUGE-L, CIDEr, plus nltk corpus BLEU for tutorial comparison."""

from captioner.metrics.scores import coco_scores, nltk_bleu

__all__ = ["coco_scores", "nltk_bleu"]
