"""Train and calibrate the Flickr8k concept detectors on cached pooled features.

Labels come from the captions: an image shows a concept when any of its captions uses one of the
concept's words. Detectors are fitted on the training split. The absent threshold of each concept
is calibrated on held-out photos of both kinds, Flickr8k's val split and a COCO-format set such as
coco-dev: the largest probability under which at most `miss_rate` of the photos that do show the
concept fall, in either set, so a block is rarely wrong on the photos users bring.
"""

from __future__ import annotations

import logging

import numpy as np

from captioner.concepts.detectors import ConceptDetectors, fit_detectors
from captioner.concepts.tables import load_concept_words
from captioner.data.cleaning import clean_caption
from captioner.data.datasets import CaptionDataset
from captioner.encoders.features import FeatureCache

log = logging.getLogger(__name__)


def concept_labels(dataset: CaptionDataset, ids: list[str], concept_words: dict[str, list[str]]) -> np.ndarray:
    """(N, C) 0/1: image n shows concept c when any caption of it uses one of c's words."""
    labels = np.zeros((len(ids), len(concept_words)), np.float32)
    for n, image_id in enumerate(ids):
        words = {w for caption in dataset.captions[image_id] for w in clean_caption(caption)}
        for c, concept in enumerate(concept_words.values()):
            labels[n, c] = float(bool(words & set(concept)))
    return labels


def calibrate_absent(probs: list[np.ndarray], labels: list[np.ndarray], miss_rate: float) -> np.ndarray:
    """Per concept: the `miss_rate` quantile of positives' probabilities, the lowest over the sets."""
    thresholds = []
    for c in range(probs[0].shape[1]):
        qs = [np.quantile(p[y[:, c] > 0, c], miss_rate) for p, y in zip(probs, labels) if (y[:, c] > 0).any()]
        thresholds.append(min(qs) if qs else 0.0)
    return np.asarray(thresholds, np.float32)


def train_detectors(train: tuple[CaptionDataset, list[str]], held_out: list[tuple[CaptionDataset, list[str]]],
                    cache: FeatureCache, miss_rate: float = 0.03) -> tuple[ConceptDetectors, dict]:
    """Fit on `train` (dataset, ids), calibrate on each of `held_out`; returns detectors and a report."""
    concept_words = load_concept_words()
    dataset, ids = train
    pooled, _ = cache.load(ids)
    detectors = fit_detectors(pooled, concept_labels(dataset, ids, concept_words), list(concept_words), cache.encoder_name)
    probs, labels = [], []
    for held, held_ids in held_out:
        p, _ = cache.load(held_ids)
        probs.append(detectors.predict(p))
        labels.append(concept_labels(held, held_ids, concept_words))
    detectors.absent_below = calibrate_absent(probs, labels, miss_rate)
    report = {}
    for c, name in enumerate(detectors.concepts):
        rows = []
        for p, y in zip(probs, labels):
            positives, negatives = y[:, c] > 0, y[:, c] == 0
            blocked = p[:, c] < detectors.absent_below[c]
            rows.append({"images": int(len(y)), "positives": int(positives.sum()),
                         "wrongly_blocked": float(blocked[positives].mean()) if positives.any() else None,
                         "absent_blocked": float(blocked[negatives].mean()) if negatives.any() else None})
        report[name] = {"absent_below": float(detectors.absent_below[c]), "held_out": rows}
    return detectors, report
