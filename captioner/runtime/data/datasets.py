"""Read caption datasets: Flickr8k's own files, the Kaggle layout, and COCO-style JSON.

Every reader returns a `Dataset`. Lines that cannot be used are reported as
`file:line: reason` problems and skipped, so one bad line never stops training.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from captioner.errors import CaptionerError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
FLICKR_SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
_TOKEN_LINE = re.compile(r"^(?P<image>[^\s#]+\.(?:jpg|jpeg|png))#(?P<n>\d+)$", re.IGNORECASE)


@dataclass
class Dataset:
    image_dir: Path
    captions: dict[str, list[str]]  # image file name -> raw captions
    splits: dict[str, list[str]]  # split name -> image file names (all with captions)
    problems: list[str] = field(default_factory=list)  # "file:line: reason" for skipped input

    def image_path(self, image_id: str) -> Path:
        return self.image_dir / image_id

    def split(self, name: str) -> list[str]:
        if name not in self.splits:
            raise CaptionerError(f"dataset has no {name!r} split (has: {', '.join(self.splits)})")
        return self.splits[name]

    def subset(self, limit: int, seed: int = 0) -> "Dataset":
        """A smaller copy with at most `limit` images per split (for smoke tests and quick runs)."""
        rng = random.Random(seed)
        splits = {k: sorted(rng.sample(v, min(limit, len(v)))) for k, v in self.splits.items()}
        keep = {i for ids in splits.values() for i in ids}
        return Dataset(self.image_dir, {i: c for i, c in self.captions.items() if i in keep}, splits, self.problems)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise CaptionerError(f"{what} not found: {path}")
    return path


def _report(problems: list[str]) -> None:
    for problem in problems[:20]:
        log.warning("skipped %s", problem)
    if len(problems) > 20:
        log.warning("... and %d more skipped lines", len(problems) - 20)


def load_flickr8k(root: str | Path) -> Dataset:
    """Flickr8k as distributed: images/ (or Flicker8k_Dataset/), token file and split files."""
    root = _require(Path(root), "dataset folder")
    image_dir = next((root / d for d in ("images", "Flicker8k_Dataset", "Images") if (root / d).is_dir()), None)
    if image_dir is None:
        raise CaptionerError(f"no image folder (images/ or Flicker8k_Dataset/) in {root}")
    token_file = _require(root / "Flickr8k.token.txt", "caption file")
    existing = {p.name for p in image_dir.iterdir()}
    captions: dict[str, list[str]] = {}
    problems: list[str] = []
    with open(token_file, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            match = _TOKEN_LINE.match(key.strip())
            where = f"{token_file.name}:{number}"
            if not tab or not caption.strip():
                problems.append(f"{where}: expected 'IMAGE.jpg#N<TAB>caption', got {line[:60]!r}")
            elif match is None:
                problems.append(f"{where}: malformed image key {key!r}")
            elif match["image"] not in existing:
                problems.append(f"{where}: image {match['image']} does not exist")
            else:
                captions.setdefault(match["image"], []).append(caption.strip())
    splits = {}
    for split, file_name in FLICKR_SPLIT_FILES.items():
        path = _require(root / file_name, f"{split} split file")
        names = [n.strip() for n in path.read_text(encoding="utf-8").split() if n.strip()]
        missing = [n for n in names if n not in captions]
        problems.extend(f"{file_name}: image {n} has no captions" for n in missing)
        splits[split] = [n for n in names if n in captions]
    _report(problems)
    return Dataset(image_dir, captions, splits, problems)


def _random_splits(image_ids: list[str], seed: int = 0) -> dict[str, list[str]]:
    """Seeded split for data without one: 1/8 each (at most 1000) for val and test."""
    ids = sorted(image_ids)
    random.Random(seed).shuffle(ids)
    held = min(1000, max(1, len(ids) // 8))
    return {"test": sorted(ids[:held]), "val": sorted(ids[held : 2 * held]), "train": sorted(ids[2 * held :])}


def load_kaggle(root: str | Path) -> Dataset:
    """Kaggle's Flickr8k layout: Images/ plus captions.txt as CSV with header 'image,caption'.

    If the official split files sit beside it they are used; otherwise a seeded random split.
    """
    root = _require(Path(root), "dataset folder")
    image_dir = _require(root / "Images", "image folder")
    csv_file = _require(root / "captions.txt", "caption file")
    existing = {p.name for p in image_dir.iterdir()}
    captions: dict[str, list[str]] = {}
    problems: list[str] = []
    with open(csv_file, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
            raise CaptionerError(f"{csv_file.name}:1: expected header 'image,caption', got {header}")
        for row in reader:
            where = f"{csv_file.name}:{reader.line_num}"
            if len(row) < 2 or not row[1].strip():
                problems.append(f"{where}: expected 'image,caption', got {row}")
            elif row[0].strip() not in existing:
                problems.append(f"{where}: image {row[0].strip()} does not exist")
            else:
                captions.setdefault(row[0].strip(), []).append(",".join(row[1:]).strip())
    if all((root / f).is_file() for f in FLICKR_SPLIT_FILES.values()):
        splits = {s: [n for n in (root / f).read_text().split() if n in captions] for s, f in FLICKR_SPLIT_FILES.items()}
    else:
        splits = _random_splits(list(captions))
    _report(problems)
    return Dataset(image_dir, captions, splits, problems)


class _Where:
    """`file:line` of the k-th element of a top-level list in a JSON object's text, for problem
    reports like the line-based readers'; the text is walked only when a problem is reported."""

    def __init__(self, path: Path, text: str, key: str):
        self.path, self.text, self.key = path, text, key
        self.lines: list[int] | None = None

    def __call__(self, k: int) -> str:
        if self.lines is None:
            self.lines = _element_lines(self.text, self.key)
        return f"{self.path.name}:{self.lines[k]}" if k < len(self.lines) else self.path.name


def _element_lines(text: str, key: str) -> list[int]:
    """Line numbers (1-based) of the elements of the list under top-level `key` of a JSON object."""
    decoder, lines = json.JSONDecoder(), []

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n,:":
            i += 1
        return i

    i = skip(text.find("{") + 1)
    while i < len(text) and text[i] != "}":
        name, i = decoder.raw_decode(text, i)
        i = skip(i)
        if name == key and text.startswith("[", i):
            i = skip(i + 1)
            while i < len(text) and text[i] != "]":
                lines.append(text.count("\n", 0, i) + 1)
                _, i = decoder.raw_decode(text, i)
                i = skip(i)
            return lines
        _, i = decoder.raw_decode(text, i)
        i = skip(i)
    return lines


def load_coco_json(json_file: str | Path, image_dir: str | Path | None = None) -> Dataset:
    """COCO captions JSON ({images, annotations}) or Karpathy's split JSON ({images: [{filename, split, sentences}]})."""
    json_file = _require(Path(json_file), "caption JSON")
    image_dir = Path(image_dir) if image_dir else json_file.parent / "images"
    _require(image_dir, "image folder")
    try:
        text = json_file.read_text(encoding="utf-8", errors="replace")
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaptionerError(f"{json_file.name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    captions: dict[str, list[str]] = {}
    split_of: dict[str, str] = {}
    problems: list[str] = []
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise CaptionerError(f"{json_file.name}: expected an object with an 'images' list")
    if "annotations" in data:
        names = {img.get("id"): img.get("file_name") for img in images if isinstance(img, dict)}
        where = _Where(json_file, text, "annotations")
        annotations = data["annotations"] if isinstance(data["annotations"], list) else []
        for k, ann in enumerate(annotations):
            name = names.get(ann.get("image_id")) if isinstance(ann, dict) else None
            if not name or not isinstance(ann.get("caption"), str) or not ann["caption"].strip():
                problems.append(f"{where(k)}: annotations[{k}] has no known image_id or no caption")
            elif not (image_dir / name).is_file():
                problems.append(f"{where(k)}: annotations[{k}]: image {name} does not exist")
            else:
                captions.setdefault(name, []).append(ann["caption"].strip())
    else:
        where = _Where(json_file, text, "images")
        for k, img in enumerate(images):
            name = img.get("filename") or img.get("file_name") if isinstance(img, dict) else None
            sentences = [s.get("raw", " ".join(s.get("tokens", []))) for s in img.get("sentences", [])
                         if isinstance(s, dict)] if name else []
            if not name or not sentences:
                problems.append(f"{where(k)}: images[{k}] has no filename or sentences")
            elif not (image_dir / name).is_file():
                problems.append(f"{where(k)}: images[{k}]: image {name} does not exist")
            else:
                captions.setdefault(name, []).extend(s.strip() for s in sentences)
                split = {"restval": "train", "dev": "val"}.get(img.get("split", ""), img.get("split", ""))
                if split in SPLITS:
                    split_of[name] = split
    if split_of and len(split_of) == len(captions):
        splits = {s: sorted(n for n, sp in split_of.items() if sp == s) for s in SPLITS}
    else:
        splits = _random_splits(list(captions))
    _report(problems)
    return Dataset(image_dir, captions, splits, problems)


def load_dataset(path: str | Path, image_dir: str | Path | None = None) -> Dataset:
    """Pick the reader from what is at `path`: a .json file, a Kaggle folder, a Flickr8k folder or a
    COCO-format folder (captions.json + images/, like coco-dev)."""
    path = _require(Path(path), "dataset")
    if path.is_file() and path.suffix.lower() == ".json":
        return load_coco_json(path, image_dir)
    if (path / "captions.json").is_file():
        return load_coco_json(path / "captions.json", image_dir)
    if (path / "captions.txt").is_file():
        return load_kaggle(path)
    if (path / "Flickr8k.token.txt").is_file():
        return load_flickr8k(path)
    raise CaptionerError(
        f"{path}: not a dataset (expected Flickr8k.token.txt, Kaggle captions.txt, captions.json or a COCO .json file)"
    )
