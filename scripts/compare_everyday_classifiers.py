#!/usr/bin/env python
"""Compare everyday-photo classifiers (Flickr8k-like or everyday?) by how well they tell Flickr8k val
from coco-dev and from the coco-train hold-out, none of which any of them is fitted on.

    .venv/bin/python scripts/compare_everyday_classifiers.py --flickr ../shared/data/flickr8k \
        --coco-train ../shared/data/coco-train --coco ../shared/data/coco-dev/captions.json \
        --unlabeled ../shared/data/coco-unlabeled/images [--variants logistic,mlp64,mlp128,mlp256] [--seeds 0,1,2]

Every variant is fitted as `scripts/train_concepts.py` fits the shipped one (training/detectors.py
train_domain): Flickr8k train photos (0) against the coco-unlabeled photos (1).
- logistic: logistic regression on the pooled features (shipped until the seventh session);
- mlpH: a hidden layer of H ReLU units (training/detectors.py fit_mlp), once per seed.
Prints, per variant, the area under the ROC curve of Flickr8k val against each everyday set, and
how many photos of each set reach 0.3 and 0.6 (the grounding's bars are read on this scale).
Features come from the feature cache (`captioner extract-features`; train_concepts.py fills it).
"""

import argparse
from pathlib import Path

import numpy as np

from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.grounding.detectors import ConceptDetectors
from captioner.training.config import TrainConfig
from captioner.training.data import holdout
from captioner.training.detectors import train_domain
from captioner.training.encoders.features import FeatureCache


def roc_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    scores = np.concatenate([negatives, positives])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # tied scores share their mean rank
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n, p = len(negatives), len(positives)
    return float((ranks[n:].sum() - p * (p + 1) / 2) / (n * p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", required=True)
    parser.add_argument("--coco-train", required=True)
    parser.add_argument("--coco", required=True, help="COCO-format captions of everyday photos (coco-dev)")
    parser.add_argument("--unlabeled", required=True, help="folder of everyday photos without captions (coco-unlabeled/images)")
    parser.add_argument("--encoder", default="efficientnet-lite2")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--variants", default="logistic,mlp64,mlp128,mlp256")
    parser.add_argument("--seeds", default="0", help="comma list: each hidden-layer variant is fitted once per seed")
    args = parser.parse_args()
    flickr, coco_train, coco = load_dataset(args.flickr), load_dataset(args.coco_train), load_dataset(args.coco)
    held_ids = holdout(sorted(coco_train.captions), TrainConfig.mix_holdout, TrainConfig.seed)[1]
    cache = FeatureCache(args.cache_dir, args.encoder)
    unlabeled = sorted(set(p.name for p in Path(args.unlabeled).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
                       - set(cache.failed_ids()))
    features = lambda ids: cache.load(ids)[0].astype(np.float32)  # (N, D)
    familiar, everyday = features(flickr.split("train")), features(unlabeled)
    sets = {"Flickr8k val": features(flickr.split("val")), "coco-dev": features(sorted(coco.captions)),
            "hold-out": features(held_ids)}
    for variant in args.variants.split(","):
        hidden = int(variant[3:]) if variant.startswith("mlp") else None
        for seed in [int(s) for s in args.seeds.split(",")] if hidden else [0]:
            detectors = ConceptDetectors(args.encoder, [], np.zeros((0, familiar.shape[1]), np.float32),
                                         np.zeros(0), np.zeros(0))
            train_domain(detectors, familiar, everyday, hidden, seed)
            scores = {name: detectors.everyday(x) for name, x in sets.items()}  # (n,) each
            flickr_val = scores.pop("Flickr8k val")
            cells = [f"AUC vs {name} {roc_auc(flickr_val, s):.4f}" for name, s in scores.items()]
            for bar in (0.3, 0.6):
                cells.append(f">= {bar}: " + ", ".join(f"{name} {int((s >= bar).sum())}/{len(s)}"
                                                       for name, s in {"Flickr8k val": flickr_val, **scores}.items()))
            print(f"{variant}{f' seed {seed}' if hidden else ''}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
