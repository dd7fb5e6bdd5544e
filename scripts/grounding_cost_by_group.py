#!/usr/bin/env python
"""Where grounding gains or loses against plain captions, by group of photos: how each photo was
routed and grounded, and the scores with one group's plain captions put back at a time.

    captioner evaluate --dataset ../shared/data/flickr8k --split val --modes beam --output-json runs/evaluate/val-grounded.json
    captioner evaluate --dataset ../shared/data/flickr8k --split val --modes beam --no-grounding --output-json runs/evaluate/val-plain.json
    .venv/bin/python scripts/grounding_cost_by_group.py --dataset ../shared/data/flickr8k --split val \
        --grounded runs/evaluate/val-grounded.json --plain runs/evaluate/val-plain.json

To read captions made with other grounding, give its detector file (--detectors) and settings
(--set FIELD=VALUE, repeatable, as scripts/calibrate_grounding.py's grid takes them).

Groups, by the default model's grounding (the same cached features):
- same: the grounded caption is the plain one;
- everyday decoder, classifier: sent to the everyday decoder, the classifier finding the photo everyday;
- everyday decoder, rare word: sent there only for a required word the Flickr8k decoder rarely saw;
- Flickr8k decoder, required word: kept by the Flickr8k decoder, with a required word;
- Flickr8k decoder, blocked only: kept by it, with only words blocked.
Also prints how many photos each decoder captions. Scores: BLEU-4 / METEOR / CIDEr (coco-caption).
"""

import argparse
import json
from dataclasses import replace

import numpy as np

from captioner.evaluation.evaluate import EvalData, score_captions
from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.grounding.detectors import ConceptDetectors
from captioner.runtime.grounding.grounding import GroundingConfig, decoder_sources, setting_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--grounded", required=True, help="captioner evaluate --output-json of the grounded captions")
    parser.add_argument("--plain", required=True, help="the same with --no-grounding")
    parser.add_argument("--mode", default="beam", help="which decoding's captions to read (beam or greedy)")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--detectors", default=None, help="a concept detector file instead of the shipped one")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a grounding setting")
    args = parser.parse_args()
    read = lambda path: {i: c[args.mode] for i, c in json.load(open(path))["captions"].items()}
    grounded, plain = read(args.grounded), read(args.plain)
    data = EvalData.prepare(None, load_dataset(args.dataset), args.split, args.cache_dir, progress=False)
    if set(grounded) != set(data.ids) or set(plain) != set(data.ids):
        parser.error("the two reports must caption the split's photos, all of them")
    if args.detectors:
        data.grounder.detectors = ConceptDetectors.load(args.detectors)
    try:
        settings = dict(item.split("=", 1) for item in args.set)  # FIELD=VALUE
        config = replace(GroundingConfig(), **{key: setting_value(key, text) for key, text in settings.items()})
    except (KeyError, ValueError) as exc:
        parser.error(f"--set: {exc}")
    concepts = data.grounder.ground(data.pooled.astype(np.float32), config, colour=data.colour)
    sources = decoder_sources(concepts, config)
    groups: dict[str, list[str]] = {}
    for i, c, source in zip(data.ids, concepts, sources):
        if grounded[i] == plain[i]:
            group = "same"
        elif source == 1:
            group = "everyday decoder, " + ("classifier" if c.everyday >= config.everyday_threshold else "rare word")
        else:
            group = "Flickr8k decoder, " + ("required word" if c.required else "blocked only")
        groups.setdefault(group, []).append(i)
    everyday = sum(sources)
    print(f"{len(data.ids)} photos: the everyday decoder captions {everyday}, the Flickr8k decoder {len(data.ids) - everyday}; "
          + ", ".join(f"{g} {len(ids)}" for g, ids in sorted(groups.items())))

    def scores(texts: dict[str, str]) -> str:
        s = score_captions(data, texts)
        return f"{s['BLEU-4']:.4f} / {s['METEOR']:.4f} / {s['CIDEr']:.4f}"

    print(f"grounded: {scores(grounded)}")
    print(f"plain: {scores(plain)}")
    for group, ids in sorted(groups.items()):
        if group != "same":
            print(f"grounded, with {group} ({len(ids)}) plain: {scores({**grounded, **{i: plain[i] for i in ids}})}")


if __name__ == "__main__":
    main()
