#!/usr/bin/env python
"""How far two `captioner evaluate --output-json` runs agree: identical captions and score differences.

    .venv/bin/python scripts/compare_captions.py runs/eval/test-torch.json runs/eval/test-onnx.json [--mode beam]

Used to check the ONNX Runtime (int8) decoder against the PyTorch one on the same images and features
(issue: same caption on >= 97% of the Flickr8k test images, BLEU-4 within 0.003).
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--mode", default="beam", help="beam or greedy")
    args = parser.parse_args()
    runs = [json.load(open(path)) for path in (args.first, args.second)]
    a, b = (run["captions"] for run in runs)
    shared = sorted(set(a) & set(b))
    same = sum(a[i][args.mode] == b[i][args.mode] for i in shared)
    print(f"{len(shared)} images in both; identical {args.mode} captions: {same} ({same / max(len(shared), 1):.1%})")
    scores = [run["report"]["results"][args.mode]["coco"] for run in runs]
    for name in scores[0]:
        x, y = scores[0][name], scores[1][name]
        if x is not None and y is not None:
            print(f"  {name:<8} {x:.4f} vs {y:.4f}  difference {y - x:+.4f}")
    for i in [i for i in shared if a[i][args.mode] != b[i][args.mode]][:5]:
        print(f"  {i}: {a[i][args.mode]!r} vs {b[i][args.mode]!r}")


if __name__ == "__main__":
    main()
