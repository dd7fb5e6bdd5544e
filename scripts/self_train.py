#!/usr/bin/env python
"""Self-training's first half: caption unlabeled photos with a model, keep the captions that pass
checks, and write them as a COCO-format folder that `captioner train --pseudo` trains on.

    .venv/bin/python scripts/self_train.py --images ../shared/data/coco-unlabeled/images --output runs/pseudo \
        [--model default] [--keep 0.5]

The checks, per photo (grounded beam search, the model's calibrated settings;
captioner/training/self_training.py): grounding required a word and the caption names it, and
every COCO object kind the caption names is required or detected; then the survivors' best `--keep` share by the caption's length-normalised log-probability.
Writes OUTPUT/captions.json (one caption per kept photo, with the checks' counts in "info") and
OUTPUT/images, a link to --images. Never writes into --images.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

import captioner
from captioner.atomic import write_json
from captioner.runtime.batch.sources import IMAGE_SUFFIXES
from captioner.runtime.data.objects import load_object_table
from captioner.training.self_training import best_share, failed_check


def written_here(path: Path) -> bool:
    """Whether `path` is captions this script wrote (so a rerun may replace them, and nothing else)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8")).get("info", {})
        return str(info.get("description", "")).startswith("self-training captions")
    except (OSError, ValueError, AttributeError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="a folder of unlabeled photos")
    parser.add_argument("--output", required=True, help="a new folder for the COCO-format captions")
    parser.add_argument("--model", default=None)
    parser.add_argument("--keep", type=float, default=0.5, help="share of the photos passing the checks kept, best first")
    args = parser.parse_args()
    images, output = Path(args.images).resolve(), Path(args.output)
    if not images.is_dir():
        sys.exit(f"error: {images}: not a folder")
    if output.resolve() == images or images in output.resolve().parents:
        sys.exit("error: --output must not be inside --images")
    if not 0 < args.keep <= 1:
        sys.exit("error: --keep must be in (0, 1]")
    link, target = output / "images", output / "captions.json"
    if link.exists() and link.resolve() != images:
        sys.exit(f"error: {link} exists and is not a link to {images}: choose a new --output")
    if target.exists() and not written_here(target):
        sys.exit(f"error: {target} exists and is not an earlier self_train.py output: choose a new --output")
    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    model = captioner.load(args.model)
    table = load_object_table()
    started = time.time()
    kept, why = [], {}
    for result in tqdm(model.stream(paths, batch_size=16), total=len(paths), desc="captioning", unit="photo"):
        reason = failed_check(result, table)
        if reason:
            why[reason] = why.get(reason, 0) + 1
            continue
        best = result.alternatives[0] if result.alternatives else {"score": 0.0}
        kept.append((float(best["score"]), Path(result.source).name, result.caption))
    passed = len(kept)
    kept = best_share(kept, args.keep)
    info = {"description": f"self-training captions of {images} by {args.model or 'default'}",
            "photos": len(paths), "failed_checks": why, "passed": passed, "kept": len(kept), "keep": args.keep}
    data = {"info": info, "images": [{"id": n, "file_name": name} for n, (_, name, _) in enumerate(kept)],
            "annotations": [{"id": n, "image_id": n, "caption": caption} for n, (_, _, caption) in enumerate(kept)]}
    output.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        os.symlink(images, link)
    write_json(target, data)
    print(json.dumps(info), f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
