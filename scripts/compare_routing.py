#!/usr/bin/env python
"""What routing photos to another model's decoder would give, before building the two-decoder model.

    .venv/bin/python scripts/compare_routing.py OTHER [--other-lm W] [--sets coco-dev,holdout,flickr-val]

Captions coco-dev, the coco-train hold-out and Flickr8k val (--flickr-images of them) with the
default and with OTHER's decoder (a run's model.pt over the default's words, e.g. a fine-tune that
started from it), both grounded as shipped and fused with the default's language models, then picks
per photo: OTHER's caption where a routing rule sends the photo to it (the
photos grounding finds unfamiliar, as `grounding.decoder_sources` does, or those the everyday
classifier gives at least T). Prints one JSON line per set: CIDEr, BLEU-4, hallucinated captions,
object recall and "black and white" for the default, OTHER and each rule, with the share it routes.
Never reads a test split.
"""

import argparse
import json
from dataclasses import replace

import numpy as np

from captioner.evaluation.evaluate import HOLDOUT, EvalData, score_captions
from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.grounding.grounding import GroundingConfig
from captioner.runtime.search import SearchConfig

SETS = {"coco-dev": ("../shared/data/coco-dev/captions.json", "all"), "holdout": ("../shared/data/coco-train", HOLDOUT),
        "flickr-val": ("../shared/data/flickr8k", "val")}


def brief(data: EvalData, texts: dict[str, str]) -> dict:
    scores = score_captions(data, texts, meteor=False)
    return {"CIDEr": round(scores["CIDEr"], 4), "BLEU-4": round(scores["BLEU-4"], 4),
            "hallucinated": round(scores["hallucinated_captions"], 4), "recall": round(scores["object_recall"], 4),
            "b&w": round(scores["phrases"]["watched"]["black and white"]["ours"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", help="the model whose decoder some photos would go to")
    parser.add_argument("--other-lm", type=float, default=None, help="OTHER's language-model fusion weight (default: as shipped)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"of {', '.join(SETS)}")
    parser.add_argument("--flickr-images", type=int, default=1000)
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--thresholds", default="0.5,0.6,0.8,0.9", help="everyday-classifier routing rules to try")
    args = parser.parse_args()
    config = GroundingConfig()
    other_config = config if args.other_lm is None else replace(config, lm_weight=args.other_lm)
    for name in args.sets.split(","):
        path, split = SETS[name]
        dataset = load_dataset(path)
        limit = args.flickr_images if name == "flickr-val" else None
        mine = EvalData.prepare(None, dataset, split, args.cache_dir, limit=limit, progress=False)
        theirs = EvalData.prepare(args.other, dataset, split, args.cache_dir, limit=limit, progress=False)
        if theirs.ids != mine.ids or theirs.bundle.vocab.words != mine.bundle.vocab.words:
            raise SystemExit(f"{args.other}: not the default's photos and words")
        concepts = mine.grounder.ground(mine.pooled.astype(np.float32), config, colour=mine.colour)
        # each captions with its own (main) decoder alone, and the default's language models
        mine.decoder, theirs.decoder = (getattr(d.decoder, "main", d.decoder) for d in (mine, theirs))
        theirs.language_model, theirs.background_lm = mine.language_model, mine.background_lm
        ours, other = mine.captions(SearchConfig(), grounding=config), theirs.captions(SearchConfig(), grounding=other_config)
        row = {"set": name, "photos": len(mine.ids), "default": brief(mine, ours), "other": brief(mine, other)}
        rules = {"unfamiliar": [c.unfamiliar for c in concepts]}
        rules.update({f"everyday>={t}": [c.everyday >= float(t) for c in concepts] for t in args.thresholds.split(",")})
        for rule, routed in rules.items():
            texts = {i: (other[i] if to_other else ours[i]) for i, to_other in zip(mine.ids, routed)}
            row[rule] = {"share": round(float(np.mean(routed)), 3), **brief(mine, texts)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
