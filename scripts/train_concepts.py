#!/usr/bin/env python
"""Fit the concept detectors, calibrate them on held-out photos, and save them.

    .venv/bin/python scripts/train_concepts.py --flickr ../shared/data/flickr8k \
        --coco-train ../shared/data/coco-train --unlabeled ../shared/data/coco-unlabeled/images \
        [--coco ../shared/data/coco-dev/captions.json] [--output captioner/models/concepts-efficientnet-lite2.npz] \
        [--phrases-from runs/evaluate/coco-train-holdout-default.json] [--keep-phrases captioner/models/concepts-efficientnet-lite2.npz]
        [--phrase "a close up" ...]
        [--encoder xception]

The Flickr8k concepts (person, man, woman, child, dog) and the 80 COCO object kinds are fitted on
Flickr8k train + coco-train without its hold-out (the kinds with a hidden layer,
training/detectors.py KIND_HIDDEN, and each coco-train photo counted KIND_EVERYDAY_REPEAT times) (the same seeded --holdout photos `captioner train
--mix` validates on), and calibrated on Flickr8k val + that hold-out (+ --coco for the Flickr8k
concepts, as before, if given). With --unlabeled, the everyday-photo classifier is fitted too:
Flickr8k train against those photos, with a hidden layer (training/detectors.py DOMAIN_HIDDEN).

Features come from the feature cache (extracted on first use).
"""

import argparse
import json
from pathlib import Path

from captioner.runtime.grounding.detectors import ConceptDetectors, shipped_detectors
from captioner.runtime.grounding.grounding import Grounder
from captioner.training.encoders import create_encoder
from captioner.training.encoders.onnx import maybe_onnx
from captioner.runtime.data.datasets import load_dataset
from captioner.training.detectors import overused_phrases, train_detectors
from captioner.training.encoders.features import ensure_features
from captioner.training.config import TrainConfig
from captioner.training.data import holdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", required=True, help="Flickr8k folder (train split fits, val split calibrates)")
    parser.add_argument("--coco", default=None, help="COCO-format captions of everyday photos that also calibrate the Flickr8k concepts")
    parser.add_argument("--coco-train", required=True, help="COCO-format folder of captioned everyday photos (fits; its hold-out calibrates)")
    parser.add_argument("--holdout", type=int, default=TrainConfig.mix_holdout, help="coco-train photos held out (seeded as in training)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--encoder", default="efficientnet-lite2")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--miss-rate", type=float, default=0.03, help="share of photos showing a concept that may be blocked")
    parser.add_argument("--unlabeled", default=None, help="folder of everyday photos without captions (coco-unlabeled/images)")
    parser.add_argument("--phrases-from", default=None, metavar="REPORT",
                        help="an evaluate report (--output-json) on everyday photos, e.g. the coco-train hold-out: "
                             "detectors are fitted for the phrases it finds over-used")
    parser.add_argument("--keep-phrases", default=None, metavar="DETECTORS",
                        help="a detector file (e.g. the shipped one) whose phrases are fitted again too, "
                             "before those --phrases-from finds")
    parser.add_argument("--phrase", action="append", default=[], metavar="PHRASE",
                        help="a phrase to fit a detector for too (repeatable), after those of --keep-phrases and --phrases-from")
    parser.add_argument("--self-train-kinds", action="store_true",
                        help="the kinds learn from the --unlabeled photos too, labelled by a first fit (self-training)")
    parser.add_argument("--output", default=None, help="detector file (default: the shipped one for the encoder)")
    args = parser.parse_args()
    output = Path(args.output or shipped_detectors(args.encoder))
    if args.keep_phrases and output.resolve() == Path(args.keep_phrases).resolve():
        parser.error(f"--output {output} is the --keep-phrases file, an input: copy it aside first")
    flickr, coco_train = load_dataset(args.flickr), load_dataset(args.coco_train)
    train_ids, val_ids = flickr.split("train"), flickr.split("val")
    mix_train, mix_held = holdout(sorted(coco_train.captions), args.holdout, args.seed)
    cache = ensure_features(flickr, train_ids + val_ids, args.encoder, args.cache_dir)
    ensure_features(coco_train, mix_train + mix_held, args.encoder, args.cache_dir)
    held_out = [(flickr, val_ids), (coco_train, mix_held)]
    calibration = list(held_out)
    if args.coco:
        coco = load_dataset(args.coco)
        ensure_features(coco, sorted(coco.captions), args.encoder, args.cache_dir)
        calibration.append((coco, sorted(coco.captions)))
    encoder = create_encoder(args.encoder)
    unlabeled = None
    if args.unlabeled:
        paths = sorted(p for p in Path(args.unlabeled).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        cache.extract(maybe_onnx(encoder), [(p.name, p) for p in paths], keep_grid=False)
        unlabeled = sorted(set(p.name for p in paths) - set(cache.failed_ids()))
    grounder = Grounder(encoder.classifier(), None)
    phrases = None
    if args.phrases_from:
        phrases = overused_phrases(json.loads(Path(args.phrases_from).read_text())["report"])
    if args.keep_phrases:
        kept = [str(p) for p in ConceptDetectors.load(args.keep_phrases).phrases]
        phrases = list(dict.fromkeys(kept + (phrases or [])))
    if args.phrase:
        phrases = list(dict.fromkeys((phrases or []) + [" ".join(p.lower().split()) for p in args.phrase]))
    if phrases:
        print(f"phrases: {phrases}")
    detectors, report = train_detectors([(flickr, train_ids), (coco_train, mix_train)], calibration, cache, grounder,
                                        args.miss_rate, unlabeled, kinds_held_out=held_out, phrases=phrases,
                                        self_train_kinds=args.self_train_kinds)
    detectors.save(output)
    print(json.dumps(report, indent=1))
    print(f"saved {output}")


if __name__ == "__main__":
    main()
