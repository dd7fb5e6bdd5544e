#!/usr/bin/env python
"""Self-training's first half: caption unlabeled photos with a model, keep the captions that pass
checks, and write them as a COCO-format folder that `captioner train --pseudo` trains on.

    .venv/bin/python scripts/self_train.py --images ../shared/data/coco-unlabeled/images --output runs/pseudo \
        [--model default] [--keep 0.5]

The checks, per photo (grounded beam search, the model's calibrated settings):
- grounding required a word, and the caption names every required word (a photo with no confident
  concept gets the decoder's own guess, which is what self-training should not learn);
- every COCO object kind the caption names is required or detected (a kind detector at 0.2 or more,
  or a person or dog detector at 0.5 or more): no object the detectors do not see;
then the survivors' best `--keep` share by the caption's length-normalised log-probability.
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
from captioner.runtime.data.objects import load_object_table, objects_named
from captioner.runtime.grounding.grounding import synonyms
from captioner.runtime.data.cleaning import clean_caption

DETECTED_KIND = 0.2  # GroundingConfig.kind_shown_from: a kind listed as detected
DETECTED_CONCEPT = 0.5  # a Flickr8k concept (person, dog, ...) its detector finds likelier than not


def passes(result, table) -> str | None:
    """Why a result fails the checks (None: it passes)."""
    concepts = result.concepts or {}
    required = concepts.get("required") or []
    if not required:
        return "nothing required"
    said = f" {' '.join(clean_caption(result.caption))} "
    if not all(any(f" {form} " in said for form in synonyms(w)) for w in required):
        return "a required word unsaid"
    seen = {objects_named(w, table).pop() for w in required if objects_named(w, table)}
    for d in concepts.get("detected", []):
        kinds = objects_named(d["concept"], table) or {d["concept"]}
        floor = DETECTED_CONCEPT if d["concept"] in ("person", "man", "woman", "child", "dog") else DETECTED_KIND
        if d["score"] >= floor:
            seen |= kinds
    if objects_named(result.caption, table) - seen:
        return "an object not detected"
    return None


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
    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    model = captioner.load(args.model)
    table = load_object_table()
    started = time.time()
    kept, why = [], {}
    for result in tqdm(model.stream(paths, batch_size=16), total=len(paths), desc="captioning", unit="photo"):
        reason = result.error and "unreadable" or passes(result, table)
        if reason:
            why[reason] = why.get(reason, 0) + 1
            continue
        best = result.alternatives[0] if result.alternatives else {"score": 0.0}
        kept.append((float(best["score"]), Path(result.source).name, result.caption))
    passed = len(kept)
    kept.sort(key=lambda k: -k[0])
    kept = sorted(kept[: max(1, round(passed * args.keep))] if kept else [], key=lambda k: k[1])
    info = {"description": f"self-training captions of {images} by {args.model or 'default'}",
            "photos": len(paths), "failed_checks": why, "passed": passed, "kept": len(kept), "keep": args.keep}
    data = {"info": info, "images": [{"id": n, "file_name": name} for n, (_, name, _) in enumerate(kept)],
            "annotations": [{"id": n, "image_id": n, "caption": caption} for n, (_, _, caption) in enumerate(kept)]}
    output.mkdir(parents=True, exist_ok=True)
    link = output / "images"
    if not link.exists():
        os.symlink(images, link)
    write_json(output / "captions.json", data)
    print(json.dumps(info), f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
