#!/usr/bin/env python
"""How well people do by the same measures: each image's first caption scored against its others.

    .venv/bin/python scripts/coco_human_baseline.py ../shared/data/coco-dev [--no-meteor]
"""

import argparse

from captioner.runtime.data.datasets import load_dataset
from captioner.evaluation.hallucination import object_scores
from captioner.training.scores import coco_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a COCO-format folder or captions JSON")
    parser.add_argument("--no-meteor", action="store_true")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    ids = [i for i, caps in dataset.captions.items() if len(caps) >= 2]
    references = {i: dataset.captions[i][1:] for i in ids}
    captions = {i: dataset.captions[i][0] for i in ids}
    scores = {**coco_scores(references, captions, meteor=not args.no_meteor), **object_scores(references, captions)}
    print(f"{len(ids)} images: first human caption against the others")
    for name, value in scores.items():
        print(f"  {name:<22} {value:.4f}" if isinstance(value, float) else f"  {name:<22} {value}")


if __name__ == "__main__":
    main()
