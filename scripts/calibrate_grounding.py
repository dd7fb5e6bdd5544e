#!/usr/bin/env python
"""Choose the grounding settings on development data: coco-dev, the coco-train hold-out and part of
Flickr8k's val split.

    .venv/bin/python scripts/calibrate_grounding.py --coco ../shared/data/coco-dev/captions.json \
        --flickr ../shared/data/flickr8k --flickr-images 300 [--holdout ../shared/data/coco-train] [--model default] \
        --grid present_threshold=0.2,0.3 lm_weight=0,0.3,0.5

Prints, per setting and set, CIDEr, BLEU-4, hallucinated captions, object recall and phrase
over-use (the share of captions saying "black and white" and the summed excess of the ten most
over-used phrases over the references' rates, metrics/phrases.py), beam search with the default
width; --meteor adds METEOR (Java; slower). Never reads a test split.
"""

import argparse
import itertools
import json
from dataclasses import replace

import numpy as np

from captioner.runtime.grounding.grounding import GroundingConfig, setting_value
from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.search import SearchConfig
from captioner.evaluation.evaluate import HOLDOUT, EvalData, score_captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", required=True)
    parser.add_argument("--flickr", required=True)
    parser.add_argument("--flickr-images", type=int, default=300)
    parser.add_argument("--holdout", default=None, help="a `train --mix` dataset whose held-out photos are scored too")
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--grid", nargs="*", default=[], metavar="FIELD=V1,V2",
                        help="GroundingConfig fields and the values to try (every combination)")
    parser.add_argument("--no-plain", action="store_true", help="skip the ungrounded baseline")
    parser.add_argument("--meteor", action="store_true", help="also METEOR (needs Java)")
    args = parser.parse_args()
    flickr = load_dataset(args.flickr)
    sets = {"coco-dev": EvalData.prepare(args.model, load_dataset(args.coco), "all", args.cache_dir),
            "flickr-val": EvalData.prepare(args.model, flickr, "val", args.cache_dir, limit=args.flickr_images)}
    if args.holdout:
        sets["holdout"] = EvalData.prepare(args.model, load_dataset(args.holdout), HOLDOUT, args.cache_dir)
    axes = [(key, [setting_value(key, v) for v in values.split(",")])
            for key, _, values in (item.partition("=") for item in args.grid)]
    settings = [] if args.no_plain else [None]
    settings += [replace(GroundingConfig(), **dict(zip([k for k, _ in axes], combo)))
                 for combo in itertools.product(*(v for _, v in axes))]
    for cfg in settings:
        row = {"grounding": "off" if cfg is None else {k: getattr(cfg, k) for k, _ in axes}}
        for name, data in sets.items():
            scores = score_captions(data, data.captions(SearchConfig(), grounding=cfg), meteor=args.meteor)
            row[name] = {k: round(v, 4) for k, v in scores.items()
                         if k in ("CIDEr", "BLEU-4", "METEOR", "hallucinated_captions", "object_recall") and v is not None}
            phrases = scores["phrases"]
            row[name]["b&w"] = round(phrases["watched"]["black and white"]["ours"], 4)
            row[name]["overuse"] = round(sum(o["ours"] - o["references"] for o in phrases["overused"]), 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
