#!/usr/bin/env python
"""Choose the grounding settings on development data: coco-dev and part of Flickr8k's val split.

    .venv/bin/python scripts/calibrate_grounding.py --coco ../shared/data/coco-dev/captions.json \
        --flickr ../shared/data/flickr8k --flickr-images 300 [--model default]

Prints, per setting, coco-dev CIDEr, hallucinated captions and object recall, and Flickr8k val
CIDEr (beam search, default width; METEOR skipped for speed). Never reads a test split.
"""

import argparse
import itertools
import json
from dataclasses import replace

import numpy as np

from captioner.concepts.grounding import GroundingConfig
from captioner.data.datasets import load_dataset
from captioner.decoding import SearchConfig
from captioner.metrics.evaluate import EvalData, score_captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", required=True)
    parser.add_argument("--flickr", required=True)
    parser.add_argument("--flickr-images", type=int, default=300)
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--present", default="0.2,0.3,0.4")
    parser.add_argument("--grounded-absent", default="0,0.8,0.95")
    parser.add_argument("--max-constraints", default="1,2")
    args = parser.parse_args()
    flickr = load_dataset(args.flickr)
    sets = {"coco-dev": EvalData.prepare(args.model, load_dataset(args.coco), "all", args.cache_dir),
            "flickr-val": EvalData.prepare(args.model, flickr, "val", args.cache_dir, limit=args.flickr_images)}
    grid = itertools.product(*(map(float, v.split(",")) for v in (args.present, args.grounded_absent, args.max_constraints)))
    settings = [None] + [replace(GroundingConfig(), present_threshold=p, grounded_absent=a, max_constraints=int(m))
                         for p, a, m in grid]
    for cfg in settings:
        row = {"grounding": "off" if cfg is None else {k: v for k, v in vars(cfg).items() if k in
                                                        ("present_threshold", "grounded_absent", "max_constraints")}}
        for name, data in sets.items():
            scores = score_captions(data, data.captions(SearchConfig(), grounding=cfg), meteor=False)
            row[name] = {k: round(v, 4) for k, v in scores.items() if k in ("CIDEr", "BLEU-4", "hallucinated_captions", "object_recall")}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
