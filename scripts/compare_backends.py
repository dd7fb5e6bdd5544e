#!/usr/bin/env python
"""The shipped inference path (ONNX Runtime, no torch) against the PyTorch path, end to end on photos.

    .venv/bin/python scripts/compare_backends.py --flickr ../shared/data/flickr8k --split val [--limit 1000]

Both caption the same photos with the default settings (beam 5, grounded), from the image files:
the ONNX path runs the exported encoder (float16-stored weights), ImageNet head, decoder (int8 weights) and
language model; the PyTorch path the original weights. Prints the share of identical captions and
the BLEU-4 / CIDEr of each against the references (coco-caption, without METEOR).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.data.images import load_image
from captioner.export.loading import load_captioner
from captioner.runtime.model.captioner import Captioner
from captioner.training.scores import coco_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", default="../shared/data/flickr8k")
    parser.add_argument("--split", default="val", help="val to choose, test to report once")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    dataset = load_dataset(args.flickr)
    ids = dataset.split(args.split)[: args.limit]
    references = {i: dataset.captions[i] for i in ids}
    captions = {}
    for backend in ("torch", "auto"):
        captioner = load_captioner(backend=backend)
        started, texts = time.perf_counter(), {}
        for start in range(0, len(ids), args.batch):
            chunk = ids[start : start + args.batch]
            images = [load_image(dataset.image_path(i)) for i in chunk]
            texts.update({i: r.caption for i, r in zip(chunk, captioner.caption(images))})
        seconds = time.perf_counter() - started
        scores = coco_scores(references, texts, meteor=False)
        captions[backend] = texts
        print(f"{backend:<6} ({type(captioner.encoder).__name__} + {type(captioner.decoder).__name__}): "
              f"BLEU-4 {scores['BLEU-4']:.4f}  CIDEr {scores['CIDEr']:.4f}  ({seconds:.0f} s)", flush=True)
    same = sum(captions["torch"][i] == captions["auto"][i] for i in ids)
    print(f"{args.split}, {len(ids)} photos: identical captions {same} ({same / len(ids):.1%})")


if __name__ == "__main__":
    main()
