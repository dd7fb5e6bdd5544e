"""Train and calibrate the Flickr8k concept detectors on cached pooled features.

Labels come from the captions: an image shows a concept when any of its captions uses one of the
concept's words. Detectors are fitted on the training split. The absent threshold of each concept
is calibrated on held-out photos of both kinds, Flickr8k's val split and a COCO-format set such as
coco-dev: the largest probability under which at most `miss_rate` of the photos that do show the
concept fall, in either set, so a block is rarely wrong on the photos users bring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from captioner.runtime.grounding.detectors import ConceptDetectors, head_probabilities
from captioner.runtime.grounding.grounding import Grounder
from captioner.runtime.grounding.tables import DetectorConcept, load_concept_words
from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.objects import kind_names, objects_named
from captioner.runtime.data.datasets import Dataset
from captioner.training.encoders.features import FeatureCache

log = logging.getLogger(__name__)

MIN_POSITIVES = 10  # held-out photos of a kind needed to calibrate its absent threshold
PHRASE_STEPS = 101  # the phrases' absent thresholds are kept for miss rates 0, 0.01, ... 1
FOLDS = 3  # cross-fitting folds whose held-out predictions calibrate the kinds
# The kinds' L2 weight: chosen by micro average precision over the kinds on coco-dev / the coco-train
# hold-out (0.158 / 0.197 with the Flickr8k concepts' 1e-3, 0.539 / 0.590 with 1e-5)
KIND_WEIGHT_DECAY = 1e-5


def fit_logistic(features: np.ndarray, labels: np.ndarray, weight_decay: float = 1e-3, steps: int = 300,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression per label column: features (N, D), labels (N, C) in {0, 1}; full-batch L-BFGS.

    Returns weight (C, D) and bias (C,).
    """
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(features, np.float32))  # (N, D)
    y = torch.as_tensor(np.asarray(labels, np.float32))  # (N, C)
    linear = torch.nn.Linear(x.shape[1], y.shape[1])
    torch.nn.init.zeros_(linear.weight)
    minimise_bce(linear, lambda: linear(x), y, weight_decay, steps)
    return linear.weight.detach().numpy().copy(), linear.bias.detach().numpy().copy()


def minimise_bce(linear: torch.nn.Linear, logits, targets: torch.Tensor, weight_decay: float, steps: int) -> None:
    """Full-batch L-BFGS on `linear`: binary cross-entropy of `logits()` (N, C), computed from it, against
    `targets` (N, C), plus weight_decay times its squared weights."""
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(), targets)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)


# The kinds' hidden layer (fit_mlp): chosen by average precision on the coco-train hold-out and
# coco-dev (scripts/compare_kind_detectors.py, docs/grounding.md)
KIND_HIDDEN = 512


def fit_mlp(features: np.ndarray, labels: np.ndarray, hidden: int = KIND_HIDDEN, epochs: int = 20,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One hidden layer of `hidden` ReLU units shared by every label column, then a logistic output per
    column: features (N, D), labels (N, C) in {0, 1}. Dropout 0.2 on the input and 0.5 on the hidden
    layer, AdamW (1e-3, weight decay 1e-4), `epochs` passes in batches of 128, seeded.

    Returns hidden_weight (H, D), hidden_bias (H,), weight (C, H), bias (C,)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(features, np.float32))  # (N, D)
    y = torch.as_tensor(np.asarray(labels, np.float32))  # (N, C)
    first, last = torch.nn.Linear(x.shape[1], hidden), torch.nn.Linear(hidden, y.shape[1])
    net = torch.nn.Sequential(torch.nn.Dropout(0.2), first, torch.nn.ReLU(), torch.nn.Dropout(0.5), last)
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 128):
            batch = order[start : start + 128]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[batch]), y[batch])  # (B, C) averaged
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return tuple(t.detach().numpy().copy() for t in (first.weight, first.bias, last.weight, last.bias))


def fit_detectors(pooled: np.ndarray, labels: np.ndarray, concepts: list[str], encoder: str) -> ConceptDetectors:
    """One logistic-regression detector per concept (absent thresholds to be calibrated)."""
    weight, bias = fit_logistic(pooled, labels)
    c = len(concepts)
    return ConceptDetectors(encoder, list(concepts), weight, bias, np.full(c, 0.1, np.float32), [""] * c, np.zeros(c, np.float32))


def concept_labels(dataset: Dataset, ids: list[str], concepts: dict[str, DetectorConcept]) -> np.ndarray:
    """(N, C) 0/1: image n shows concept c when any caption of it uses one of c's words."""
    labels = np.zeros((len(ids), len(concepts)), np.float32)
    for n, image_id in enumerate(ids):
        words = {w for caption in dataset.captions[image_id] for w in clean_caption(caption)}
        for c, concept in enumerate(concepts.values()):
            labels[n, c] = float(bool(words & set(concept.words)))
    return labels


def kind_labels(dataset: Dataset, ids: list[str], kinds: list[str]) -> np.ndarray:
    """(N, K) 0/1: image n shows COCO kind k when any caption of it names the kind (data/coco_objects.tsv)."""
    column = {k: i for i, k in enumerate(kinds)}
    labels = np.zeros((len(ids), len(kinds)), np.float32)
    for n, image_id in enumerate(ids):
        for caption in dataset.captions[image_id]:
            for kind in objects_named(caption):
                labels[n, column[kind]] = 1.0
    return labels


def calibrate_absent(probs: list[np.ndarray], labels: list[np.ndarray], miss_rate: float) -> np.ndarray:
    """Per concept: the `miss_rate` quantile of positives' probabilities, the lowest over the sets."""
    thresholds = []
    for c in range(probs[0].shape[1]):
        qs = [np.quantile(p[y[:, c] > 0, c], miss_rate) for p, y in zip(probs, labels) if (y[:, c] > 0).any()]
        thresholds.append(min(qs) if qs else 0.0)
    return np.asarray(thresholds, np.float32)


# The everyday-photo classifier's hidden layer (fit_mlp; None: logistic): chosen by how well it tells
# Flickr8k val from coco-dev and the coco-train hold-out (area under the ROC curve, docs/grounding.md)
DOMAIN_HIDDEN = 128


def train_domain(detectors: ConceptDetectors, familiar: np.ndarray, everyday: np.ndarray,
                 hidden: int | None = DOMAIN_HIDDEN, seed: int = 0) -> None:
    """Fit the everyday-photo classifier: pooled features of training-like photos (label 0) vs
    unlabeled everyday photos (label 1), each photo counted once; `hidden` ReLU units (seeded), or
    logistic regression (weight decay 1e-3) with None."""
    x = np.concatenate([familiar, everyday]).astype(np.float32)  # (N, D)
    y = np.concatenate([np.zeros(len(familiar)), np.ones(len(everyday))])[:, None]  # (N, 1)
    head = fit_head(x, y, hidden, seed=seed) if hidden else Head(*fit_logistic(x, y))  # weight (1, H) or (1, D)
    detectors.domain_weight, detectors.domain_bias = head.weight[0], float(head.bias[0])
    detectors.domain_hidden_weight, detectors.domain_hidden_bias = head.hidden_weight, head.hidden_bias


# Kinds have one hidden layer of KIND_HIDDEN; each everyday (coco-train) photo counts this many times
# in their fit, against once for a Flickr8k one. Chosen by average precision (docs/grounding.md).
KIND_EVERYDAY_REPEAT = 3


@dataclass
class Head:
    """Fitted detectors: an optional shared hidden layer (ReLU), then a logistic output per column."""

    weight: np.ndarray  # (L, D), or (L, H) after the hidden layer
    bias: np.ndarray  # (L,)
    hidden_weight: np.ndarray | None = None  # (H, D), rounded to float16 as it is saved
    hidden_bias: np.ndarray | None = None  # (H,)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """features (N, D) -> probabilities (N, L), as the saved detectors give them."""
        return head_probabilities(features, self.weight, self.bias, self.hidden_weight, self.hidden_bias)


def fit_head(features: np.ndarray, labels: np.ndarray, hidden: int | None = None,
             repeats: np.ndarray | None = None, extra: tuple[np.ndarray, np.ndarray] | None = None,
             seed: int = 0) -> Head:
    """Detectors for labels (N, L) on features (N, D): logistic (`KIND_WEIGHT_DECAY`) without `hidden`,
    else `fit_mlp` with that many hidden units (seeded). repeats (N,): how many times each photo counts
    (None: once). extra: (features (M, D), soft labels (M, L)) of more photos, each counted once."""
    if repeats is not None:
        features, labels = np.repeat(features, repeats, axis=0), np.repeat(labels, repeats, axis=0)
    if extra is not None:
        features, labels = np.concatenate([features, extra[0]]), np.concatenate([labels, extra[1]])
    if not hidden:
        return Head(*fit_logistic(features, labels, KIND_WEIGHT_DECAY))
    hidden_weight, hidden_bias, weight, bias = fit_mlp(features, labels, hidden, seed=seed)
    return Head(weight, bias, hidden_weight.astype(np.float16).astype(np.float32), hidden_bias)


def out_of_fold(features: np.ndarray, labels: np.ndarray, folds: int, seed: int = 0, hidden: int | None = None,
                repeats: np.ndarray | None = None, extra: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Probabilities (N, K) of each photo from detectors fitted without its fold (held-out predictions
    for every training photo: enough positives to calibrate rare kinds). extra: (features (M, D),
    soft labels (M, K)) fitted in every fold, never predicted."""
    fold = np.random.default_rng(seed).permutation(len(features)) % folds  # (N,)
    probs = np.zeros(labels.shape, np.float32)
    for f in range(folds):
        kept = fold != f
        head = fit_head(features[kept], labels[kept], hidden, None if repeats is None else repeats[kept], extra)
        probs[fold == f] = head.predict(features[fold == f])
    return probs


def fit_calibrated(train_x: np.ndarray, train_y: np.ndarray, held: list[tuple[np.ndarray, np.ndarray]],
                   miss_rate: float | np.ndarray, folds: int = FOLDS, hidden: int | None = None,
                   repeats: np.ndarray | None = None, extra: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[Head, np.ndarray]:
    """Detectors per label column (`fit_head`), fitted on (train_x (N, D), train_y (N, L)), with
    their absent thresholds: the `miss_rate` quantile of the held-out probabilities of the photos that
    show each, held out being `held`'s (features, labels) sets and, by `folds`-fold cross-fitting, the
    training photos. A column with fewer than `MIN_POSITIVES` such photos gets 0 (never absent).
    extra: (features, soft labels) of photos without captions, fitted too (counted once) but never
    calibrated on. Returns the head and absent_below (L,), or (L, Q) for Q miss rates."""
    head = fit_head(train_x, train_y, hidden, repeats, extra)
    held_probs = [head.predict(x) for x, _ in held]  # (n, L) each
    oof = out_of_fold(train_x, train_y, folds, hidden=hidden, repeats=repeats, extra=extra)  # (N, L)
    all_probs = np.concatenate([oof, *held_probs])  # (N + n, L)
    all_labels = np.concatenate([train_y, *(y for _, y in held)])
    below = [np.quantile(all_probs[all_labels[:, k] > 0, k], miss_rate)
             if (all_labels[:, k] > 0).sum() >= MIN_POSITIVES else np.zeros_like(miss_rate) for k in range(train_y.shape[1])]
    return head, np.asarray(below, np.float32)


def held_out_report(detector_probs, held: list[tuple[np.ndarray, np.ndarray]], below: np.ndarray,
                    train_y: np.ndarray, names: list[str]) -> dict:
    """Per column: its threshold and, per held-out set, positives and the shares blocked rightly and wrongly."""
    report = {}
    for k, name in enumerate(names):
        rows = []
        for x, y in held:
            p = detector_probs(x)
            positives, blocked = y[:, k] > 0, p[:, k] < below[k]
            rows.append({"positives": int(positives.sum()), "train_positives": int(train_y[:, k].sum()),
                         "wrongly_blocked": float(blocked[positives].mean()) if positives.any() else None,
                         "absent_blocked": float(blocked[~positives].mean()) if (~positives).any() else None})
        report[name] = {"absent_below": float(below[k]), "held_out": rows}
    return report


def train_kinds(detectors: ConceptDetectors, train: list[tuple[Dataset, list[str]]],
                held_out: list[tuple[Dataset, list[str]]], cache: FeatureCache, miss_rate: float,
                folds: int = FOLDS, hidden: int | None = KIND_HIDDEN, everyday_repeat: int = KIND_EVERYDAY_REPEAT,
                unlabeled: list[str] | None = None) -> dict:
    """Fit detectors for the COCO object kinds on `train` sets (the first Flickr8k-like, the rest
    everyday photos, which count `everyday_repeat` times), with `hidden` units shared (None:
    logistic), and calibrate their absent thresholds (`fit_calibrated`). With `unlabeled` (cached ids
    of everyday photos without captions) the detectors are fitted twice: the second time also on those
    photos, labelled with the first fit's probabilities (self-training). Returns a report per kind."""
    kinds = list(kind_names())
    pooled = np.concatenate([cache.load(ids)[0] for _, ids in train]).astype(np.float32)  # (N, D)
    labels = np.concatenate([kind_labels(data, ids, kinds) for data, ids in train])  # (N, K)
    repeats = np.concatenate([np.full(len(ids), 1 if i == 0 else everyday_repeat) for i, (_, ids) in enumerate(train)])  # (N,)
    held = [(cache.load(ids)[0].astype(np.float32), kind_labels(data, ids, kinds)) for data, ids in held_out]
    extra = None
    if unlabeled:
        features = cache.load(unlabeled)[0].astype(np.float32)  # (M, D)
        extra = (features, fit_head(pooled, labels, hidden, repeats).predict(features))  # soft labels (M, K)
    head, below = fit_calibrated(pooled, labels, held, miss_rate, folds, hidden, repeats, extra)
    detectors.kinds = kinds
    detectors.kind_weight, detectors.kind_bias, detectors.kind_absent_below = head.weight, head.bias, below
    detectors.kind_hidden_weight, detectors.kind_hidden_bias = head.hidden_weight, head.hidden_bias
    return held_out_report(detectors.kind_probabilities, held, detectors.kind_absent_below, labels, kinds)


def phrase_labels(dataset: Dataset, ids: list[str], phrases: list[str]) -> np.ndarray:
    """(N, P) 0/1: image n's captions say phrase p (its words in a row, after cleaning)."""
    grams = [tuple(p.split()) for p in phrases]
    labels = np.zeros((len(ids), len(phrases)), np.float32)
    for n, image_id in enumerate(ids):
        for caption in dataset.captions[image_id]:
            words = clean_caption(caption)
            for k, gram in enumerate(grams):
                if not labels[n, k] and any(tuple(words[i : i + len(gram)]) == gram for i in range(len(words))):
                    labels[n, k] = 1.0
    return labels


def train_phrases(detectors: ConceptDetectors, phrases: list[str], train: list[tuple[Dataset, list[str]]],
                  held_out: list[tuple[Dataset, list[str]]], cache: FeatureCache, miss_rate: float,
                  folds: int = FOLDS) -> dict:
    """Fit one detector per phrase (whether a photo's captions say it) and calibrate its absent
    thresholds as the kinds' are, for every miss rate from 0 to 1 in steps of 0.01 (the grounding
    settings choose one). Returns a report per phrase at `miss_rate`."""
    pooled = np.concatenate([cache.load(ids)[0] for _, ids in train]).astype(np.float32)  # (N, D)
    labels = np.concatenate([phrase_labels(data, ids, phrases) for data, ids in train])  # (N, P)
    held = [(cache.load(ids)[0].astype(np.float32), phrase_labels(data, ids, phrases)) for data, ids in held_out]
    detectors.phrases = list(phrases)
    head, detectors.phrase_quantiles = fit_calibrated(pooled, labels, held, np.linspace(0.0, 1.0, PHRASE_STEPS), folds)
    detectors.phrase_weight, detectors.phrase_bias = head.weight, head.bias
    return held_out_report(detectors.phrase_probabilities, held, detectors.phrase_absent_below(miss_rate), labels, phrases)


def overused_phrases(report: dict, mode: str = "beam") -> list[str]:
    """The phrases an evaluate report (`captioner evaluate --output-json`) finds our captions
    over-use: its top over-used list and the watched phrases said more often than the references do."""
    phrases = report["results"][mode]["phrases"]
    found = [o["phrase"] for o in phrases["overused"]]
    found += [p for p, rates in phrases["watched"].items() if rates["ours"] > rates["references"]]
    return list(dict.fromkeys(" ".join(clean_caption(p)) for p in found))


def train_detectors(train: tuple[Dataset, list[str]] | list[tuple[Dataset, list[str]]],
                    held_out: list[tuple[Dataset, list[str]]],
                    cache: FeatureCache, grounder: Grounder, miss_rate: float = 0.03,
                    unlabeled: list[str] | None = None, kinds_held_out: list[tuple[Dataset, list[str]]] | None = None,
                    phrases: list[str] | None = None, self_train_kinds: bool = False) -> tuple[ConceptDetectors, dict]:
    """Fit on `train` (dataset, ids), or several such sets, calibrate on each of `held_out`; returns detectors and a report.

    grounder: supplies the ImageNet word probabilities of the concepts that name an ImageNet word
    (a grounder without a head: none, and the detectors alone decide).
    unlabeled: cached ids of everyday photos without captions, for the everyday-photo classifier
    (against the first training set's photos).
    kinds_held_out: where the COCO kind detectors are calibrated (None: no kind detectors), and
    the detectors of `phrases` (None: none).
    self_train_kinds: the kinds learn from the `unlabeled` photos too (train_kinds; off in the shipped
    file: docs/grounding.md).
    """
    concepts = load_concept_words()
    sets = train if isinstance(train, list) else [train]
    pooled = np.concatenate([cache.load(ids)[0] for _, ids in sets])  # (N, D)
    labels = np.concatenate([concept_labels(data, ids, concepts) for data, ids in sets])  # (N, C)
    detectors = fit_detectors(pooled, labels, list(concepts), cache.encoder_name)
    if unlabeled:
        train_domain(detectors, cache.load(sets[0][1])[0], cache.load(unlabeled)[0])
    probs, imagenet, labels = [], [], []
    for held, held_ids in held_out:
        p, _ = cache.load(held_ids)
        probs.append(detectors.predict(p))
        words = grounder.word_probabilities(p)  # (N, W)
        imagenet.append(np.stack([words[:, grounder.words.index(c.imagenet_word)] if c.imagenet_word and grounder.has_head
                                  else np.ones(len(p)) for c in concepts.values()], axis=1))  # (N, C)
        labels.append(concept_labels(held, held_ids, concepts))
    detectors.absent_below = calibrate_absent(probs, labels, miss_rate)
    detectors.imagenet_absent_below = calibrate_absent(imagenet, labels, miss_rate)
    detectors.imagenet_words = [(c.imagenet_word or "") if grounder.has_head else "" for c in concepts.values()]
    for k, c in enumerate(concepts.values()):
        if not c.imagenet_word or not grounder.has_head:
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
    if kinds_held_out:
        report["kinds"] = train_kinds(detectors, sets, kinds_held_out, cache, miss_rate,
                                      unlabeled=unlabeled if self_train_kinds else None)
        if phrases:
            report["phrases"] = train_phrases(detectors, phrases, sets, kinds_held_out, cache, miss_rate)
    if unlabeled:
        report["everyday_photo_share"] = [float((detectors.everyday(cache.load(i)[0]) >= 0.5).mean()) for _, i in held_out]
    return detectors, report
