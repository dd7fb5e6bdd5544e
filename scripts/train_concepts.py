#!/usr/bin/env python
"""Fit the Flickr8k concept detectors, calibrate them on Flickr8k val + coco-dev, and save them.

    .venv/bin/python scripts/train_concepts.py --flickr ../shared/data/flickr8k \
        --coco ../shared/data/coco-dev/captions.json --unlabeled ../shared/data/coco-unlabeled/images \
        [--output captioner/models/concepts-efficientnet-lite2.npz]

Features come from the feature cache (extracted on first use).
"""

import argparse
import json
from pathlib import Path

from captioner.concepts.detectors import shipped_detectors
from captioner.concepts.grounding import Grounder
from captioner.encoders import create_encoder
from captioner.encoders.onnx_runtime import maybe_onnx
from captioner.data.datasets import load_dataset
from captioner.training.concepts import train_detectors
from captioner.encoders.features import ensure_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", required=True, help="Flickr8k folder (train split fits, val split calibrates)")
    parser.add_argument("--coco", required=True, help="COCO-format captions JSON of everyday photos (calibrates)")
    parser.add_argument("--encoder", default="efficientnet-lite2")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--miss-rate", type=float, default=0.03, help="share of photos showing a concept that may be blocked")
    parser.add_argument("--unlabeled", default=None, help="folder of everyday photos without captions (coco-unlabeled/images)")
    parser.add_argument("--output", default=None, help="detector file (default: the shipped one for the encoder)")
    args = parser.parse_args()
    flickr, coco = load_dataset(args.flickr), load_dataset(args.coco)
    coco_ids = sorted(coco.captions)
    train_ids, val_ids = flickr.split("train"), flickr.split("val")
    cache = ensure_features(flickr, train_ids + val_ids, args.encoder, args.cache_dir)
    ensure_features(coco, coco_ids, args.encoder, args.cache_dir)
    encoder = create_encoder(args.encoder)
    unlabeled = None
    if args.unlabeled:
        paths = sorted(p for p in Path(args.unlabeled).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        cache.extract(maybe_onnx(encoder), [(p.name, p) for p in paths], keep_grid=False)
        unlabeled = sorted(set(p.name for p in paths) - set(cache.failed_ids()))
    grounder = Grounder(encoder.classifier(), None)
    detectors, report = train_detectors((flickr, train_ids), [(flickr, val_ids), (coco, coco_ids)], cache, grounder,
                                        args.miss_rate, unlabeled)
    output = args.output or shipped_detectors(args.encoder)
    detectors.save(output)
    print(json.dumps(report, indent=1))
    print(f"saved {output}")


if __name__ == "__main__":
    main()
