#!/usr/bin/env python
"""Compare ways of detecting the 80 COCO object kinds from the encoder's features, by average
precision on the coco-train hold-out and coco-dev (what `scripts/train_concepts.py` fits is the first).

    .venv/bin/python scripts/compare_kind_detectors.py --flickr ../shared/data/flickr8k \
        --coco-train ../shared/data/coco-train --coco ../shared/data/coco-dev/captions.json \
        [--variants pooled,gem2,gem4,logp,mlp,mlp512x3,mil]

Every variant is fitted on Flickr8k train + coco-train less its seeded hold-out, with labels from
which kinds a photo's captions name (training/detectors.py kind_labels):
- pooled: logistic regression on the mean-pooled features (shipped until the sixth session);
- gem2, gem4: the same on generalised-mean pooled grid features (power 2, 4: strong cells count more);
- logp: pooled features plus the ImageNet head's standardised log-probabilities;
- mlp, mlpH: a hidden layer of 1,024 (or H) on the pooled features (training/detectors.py fit_mlp:
  ReLU, dropout 0.2 in and 0.5 out, AdamW 1e-3, weight decay 1e-4, 20 epochs of batches of 128, seed 0);
  mlpHxR: the same with each coco-train photo counted R times (mlp512x3 is what train_concepts.py fits);
- mil: one linear detector per grid cell, pooled by log-sum-exp (multiple-instance learning, from
  the pooled detector; needs about 4 GB of memory).
Prints micro AP (all photo-kind pairs ranked together) and macro AP (mean over kinds with at least
3 positives) per set. Features come from the feature cache (`captioner extract-features`, grid kept).
"""

import argparse

import numpy as np
import torch

from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.data.objects import kind_names
from captioner.training.config import TrainConfig
from captioner.training.data import holdout
from captioner.training.detectors import KIND_WEIGHT_DECAY, fit_head, fit_logistic, kind_labels, minimise_bce
from captioner.training.encoders.features import FeatureCache


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the precisions at each positive, ranked by score (labels 0/1)."""
    ranked = labels[np.argsort(-scores, kind="stable")]
    precision = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    return float((precision * ranked).sum() / max(ranked.sum(), 1))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", required=True)
    parser.add_argument("--coco-train", required=True)
    parser.add_argument("--coco", required=True, help="COCO-format captions of everyday photos scored too (coco-dev)")
    parser.add_argument("--encoder", default="efficientnet-lite2")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--variants", default="pooled,gem2,gem4,logp,mlp,mil")
    args = parser.parse_args()
    variants = args.variants.split(",")
    flickr, coco_train, coco = load_dataset(args.flickr), load_dataset(args.coco_train), load_dataset(args.coco)
    mix_train, mix_held = holdout(sorted(coco_train.captions), TrainConfig.mix_holdout, TrainConfig.seed)
    cache = FeatureCache(args.cache_dir, args.encoder)
    kinds = list(kind_names())
    grid_needed = any(v.startswith("gem") or v == "mil" for v in variants)

    def load(data, ids):
        pooled, grid = cache.load(ids, with_grid=grid_needed)
        return pooled.astype(np.float32), grid, kind_labels(data, ids, kinds)  # (N, D), (N, cells, D), (N, K)

    train = [load(flickr, flickr.split("train")), load(coco_train, mix_train)]
    sets = {"hold-out": load(coco_train, mix_held), "coco-dev": load(coco, sorted(coco.captions))}
    pooled = np.concatenate([t[0] for t in train])  # (N, D)
    labels = np.concatenate([t[2] for t in train])  # (N, K)
    grid = np.concatenate([t[1] for t in train]) if grid_needed else None  # (N, cells, D) float16

    def report(name, predict):
        cells = []
        for set_name, (p, g, y) in sets.items():
            probs = predict(p, g)  # (n, K)
            kept = [k for k in range(len(kinds)) if y[:, k].sum() >= 3]
            macro = np.mean([average_precision(probs[:, k], y[:, k]) for k in kept])
            cells.append(f"{set_name} micro AP {average_precision(probs.ravel(), y.ravel()):.3f} macro AP {macro:.3f}")
        print(f"{name:8s} " + "; ".join(cells), flush=True)

    weight, bias = fit_logistic(pooled, labels, KIND_WEIGHT_DECAY)
    if "pooled" in variants:
        report("pooled", lambda p, g: sigmoid(p @ weight.T + bias))
    for power in (2.0, 4.0):
        if f"gem{power:g}" in variants:
            gem = lambda g: (np.clip(g.astype(np.float32), 1e-6, None) ** power).mean(1) ** (1 / power)  # (N, D)
            w, b = fit_logistic(gem(grid), labels, KIND_WEIGHT_DECAY)
            report(f"gem{power:g}", lambda p, g: sigmoid(gem(g) @ w.T + b))
    if "logp" in variants:
        from captioner.training.encoders import create_encoder
        from captioner.runtime.grounding.grounding import Grounder

        grounder = Grounder(create_encoder(args.encoder).classifier(), None)
        logp = lambda p: np.log(np.clip(grounder.class_probabilities(p), 1e-6, 1.0))  # (N, 1000)
        mean, std = logp(pooled).mean(0), logp(pooled).std(0) + 1e-6
        both = lambda p: np.concatenate([p, (logp(p) - mean) / std], 1)
        w, b = fit_logistic(both(pooled), labels, 1e-4)
        report("logp", lambda p, g: sigmoid(both(p) @ w.T + b))
    for variant in variants:
        if variant.startswith("mlp"):
            hidden, _, repeat = variant[3:].partition("x")
            repeats = np.concatenate([np.ones(len(train[0][0]), int), np.full(len(train[1][0]), int(repeat or 1))])  # (N,)
            head = fit_head(pooled, labels, int(hidden or 1024), repeats)
            report(variant, lambda p, g: head.predict(p))
    if "mil" in variants:
        sharpness = 3.0
        linear = torch.nn.Linear(pooled.shape[1], len(kinds))
        linear.weight.data, linear.bias.data = torch.from_numpy(weight.copy()), torch.from_numpy(bias.copy())
        cells = torch.from_numpy(grid.astype(np.float32))  # (N, cells, D)
        targets = torch.from_numpy(labels)

        def pooled_logit(g):  # (N, cells, D) -> (N, K)
            z = linear(g)  # (N, cells, K)
            return (torch.logsumexp(sharpness * z, 1) - np.log(z.shape[1])) / sharpness

        minimise_bce(linear, lambda: pooled_logit(cells), targets, KIND_WEIGHT_DECAY, steps=60)
        with torch.no_grad():
            report("mil", lambda p, g: torch.sigmoid(pooled_logit(torch.from_numpy(g.astype(np.float32)))).numpy())


if __name__ == "__main__":
    main()
