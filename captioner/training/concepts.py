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

from captioner.concepts.detectors import ConceptDetectors, fit_detectors, fit_logistic
from captioner.concepts.grounding import Grounder
from captioner.concepts.tables import DetectorConcept, load_concept_words
from captioner.data.cleaning import clean_caption
from captioner.data.datasets import CaptionDataset
from captioner.encoders.features import FeatureCache

log = logging.getLogger(__name__)


def concept_labels(dataset: CaptionDataset, ids: list[str], concepts: dict[str, DetectorConcept]) -> np.ndarray:
    """(N, C) 0/1: image n shows concept c when any caption of it uses one of c's words."""
    labels = np.zeros((len(ids), len(concepts)), np.float32)
    for n, image_id in enumerate(ids):
        words = {w for caption in dataset.captions[image_id] for w in clean_caption(caption)}
        for c, concept in enumerate(concepts.values()):
            labels[n, c] = float(bool(words & set(concept.words)))
    return labels


def calibrate_absent(probs: list[np.ndarray], labels: list[np.ndarray], miss_rate: float) -> np.ndarray:
    """Per concept: the `miss_rate` quantile of positives' probabilities, the lowest over the sets."""
    thresholds = []
    for c in range(probs[0].shape[1]):
        qs = [np.quantile(p[y[:, c] > 0, c], miss_rate) for p, y in zip(probs, labels) if (y[:, c] > 0).any()]
        thresholds.append(min(qs) if qs else 0.0)
    return np.asarray(thresholds, np.float32)


def train_domain(detectors: ConceptDetectors, familiar: np.ndarray, everyday: np.ndarray) -> None:
    """Fit the everyday-photo classifier: pooled features of training-like photos (label 0) vs
    unlabeled everyday photos (label 1), classes weighted equally."""
    x = np.concatenate([familiar, everyday]).astype(np.float32)
    y = np.concatenate([np.zeros(len(familiar)), np.ones(len(everyday))])[:, None]
    weight, bias = fit_logistic(x, y)
    detectors.domain_weight, detectors.domain_bias = weight[0], float(bias[0])


def train_detectors(train: tuple[CaptionDataset, list[str]], held_out: list[tuple[CaptionDataset, list[str]]],
                    cache: FeatureCache, grounder: Grounder, miss_rate: float = 0.03,
                    unlabeled: list[str] | None = None) -> tuple[ConceptDetectors, dict]:
    """Fit on `train` (dataset, ids), calibrate on each of `held_out`; returns detectors and a report.

    grounder: supplies the ImageNet word probabilities of the concepts that name an ImageNet word.
    unlabeled: cached ids of everyday photos without captions, for the everyday-photo classifier.
    """
    concepts = load_concept_words()
    dataset, ids = train
    pooled, _ = cache.load(ids)
    detectors = fit_detectors(pooled, concept_labels(dataset, ids, concepts), list(concepts), cache.encoder_name)
    if unlabeled:
        train_domain(detectors, pooled, cache.load(unlabeled)[0])
    probs, imagenet, labels = [], [], []
    for held, held_ids in held_out:
        p, _ = cache.load(held_ids)
        probs.append(detectors.predict(p))
        words = grounder.word_probabilities(p)  # (N, W)
        imagenet.append(np.stack([words[:, grounder.words.index(c.imagenet_word)] if c.imagenet_word
                                  else np.ones(len(p)) for c in concepts.values()], axis=1))  # (N, C)
        labels.append(concept_labels(held, held_ids, concepts))
    detectors.absent_below = calibrate_absent(probs, labels, miss_rate)
    detectors.imagenet_absent_below = calibrate_absent(imagenet, labels, miss_rate)
    detectors.imagenet_words = [c.imagenet_word or "" for c in concepts.values()]
    for k, c in enumerate(concepts.values()):
        if not c.imagenet_word:
            detectors.imagenet_absent_below[k] = 0.0
    report = {}
    for c, name in enumerate(detectors.concepts):
        rows = []
        for p, img, y in zip(probs, imagenet, labels):
            positives, negatives = y[:, c] > 0, y[:, c] == 0
            blocked = (p[:, c] < detectors.absent_below[c]) | (img[:, c] < detectors.imagenet_absent_below[c])
            rows.append({"images": int(len(y)), "positives": int(positives.sum()),
                         "wrongly_blocked": float(blocked[positives].mean()) if positives.any() else None,
                         "absent_blocked": float(blocked[negatives].mean()) if negatives.any() else None})
        report[name] = {"absent_below": float(detectors.absent_below[c]),
                        "imagenet_absent_below": float(detectors.imagenet_absent_below[c]), "held_out": rows}
    if unlabeled:
        report["everyday_photo_share"] = [float((detectors.everyday(cache.load(i)[0]) >= 0.5).mean()) for _, i in held_out]
    return detectors, report
