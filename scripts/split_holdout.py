#!/usr/bin/env python
"""Make a `train --mix` dataset's seeded hold-out its validation split, as a dataset of its own, so
that `captioner train` or `captioner self-critical` can train on that set alone (e.g. the everyday
decoder on coco-train) and choose epochs on the same photos `--mix` holds out:

    .venv/bin/python scripts/split_holdout.py ../shared/data/coco-train runs/coco-train-split
    captioner self-critical --model MODEL --dataset runs/coco-train-split ...

OUT gets a Karpathy-format captions.json (every photo with its captions and split: "val" for the
hold-out of `--holdout` photos, seeded as `train --mix` seeds it, "train" for the rest) and an
`images` link to the dataset's own image folder; the dataset itself is only read.
"""

import argparse
import json
import sys
from pathlib import Path

from captioner.atomic import atomic_path
from captioner.errors import CaptionerError
from captioner.runtime.data.datasets import load_dataset
from captioner.training.config import TrainConfig
from captioner.training.data import holdout


def split_dataset(dataset_path: str, out: str, held: int = TrainConfig.mix_holdout, seed: int = TrainConfig.seed) -> dict[str, int]:
    """Write OUT/captions.json and link OUT/images; returns the number of photos per split."""
    data = load_dataset(dataset_path)
    folder = Path(out)
    images = folder / "images"
    own = Path(dataset_path).resolve()
    if folder.resolve() in (own if own.is_dir() else own.parent, data.image_dir.resolve()):
        raise CaptionerError(f"{out}: that is the dataset's own folder; write the split elsewhere")
    if images.is_symlink() and images.resolve() != data.image_dir.resolve():
        raise CaptionerError(f"{images} already links to {images.resolve()}, not {data.image_dir}")
    if images.exists() and not images.is_symlink():
        raise CaptionerError(f"{images} exists and is not a link to the dataset's images")
    train_ids, val_ids = holdout(sorted(data.captions), held, seed)
    val = set(val_ids)
    rows = [{"filename": name, "split": "val" if name in val else "train",
             "sentences": [{"raw": c} for c in data.captions[name]]} for name in sorted(data.captions)]
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "captions.json") as tmp:
        Path(tmp).write_text(json.dumps({"images": rows}), encoding="utf-8")
    if not images.is_symlink():
        images.symlink_to(data.image_dir.resolve(), target_is_directory=True)
    return {"train": len(train_ids), "val": len(val_ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a COCO-format dataset folder (captions.json + images/), e.g. coco-train")
    parser.add_argument("out", help="folder for the split dataset (captions.json and an images link)")
    parser.add_argument("--holdout", type=int, default=TrainConfig.mix_holdout, help="photos held out (as train --mix-holdout)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="the hold-out's seed (as train --seed)")
    args = parser.parse_args()
    try:
        counts = split_dataset(args.dataset, args.out, args.holdout, args.seed)
    except CaptionerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {counts['train']} train / {counts['val']} val photos")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
