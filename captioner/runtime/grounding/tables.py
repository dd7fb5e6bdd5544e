"""The shipped word tables: ImageNet class -> caption words, and the Flickr8k detector concepts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captioner.errors import CaptionerError

HERE = Path(__file__).resolve().parent
IMAGENET_TABLE = HERE / "imagenet_words.tsv"
FLICKR_CONCEPTS = HERE / "flickr_concepts.tsv"
COOCCURRENCE = HERE / "cooccurrence.tsv"
IMAGENET_CLASSES = 1000


def _rows(path: Path, columns: int) -> list[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of the non-comment lines, or a one-line error naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptionerError(f"concept table {path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < columns or not all(f.strip() for f in fields[:columns]):
            raise CaptionerError(f"concept table {path}:{number}: expected {columns} tab-separated fields")
        rows.append((number, fields))
    if not rows:
        raise CaptionerError(f"concept table {path} has no entries")
    return rows


def load_imagenet_table(path: str | Path = IMAGENET_TABLE) -> tuple[list[str], np.ndarray]:
    """Caption words and a (1000, words) matrix: class c feeds word w with weight matrix[c, w].

    A class feeds its first word fully and the others (scene words such as "kitchen") at half
    weight, so that "sign" outranks "street" for a street sign.
    """
    entries: list[tuple[int, list[str]]] = []
    for number, fields in _rows(Path(path), 2):
        try:
            index = int(fields[0])
        except ValueError:
            index = -1
        if not 0 <= index < IMAGENET_CLASSES:
            raise CaptionerError(f"concept table {path}:{number}: class index must be 0-999, not {fields[0]!r}")
        entries.append((index, [w.strip() for w in fields[1].split(",") if w.strip()]))
    words = sorted({w for _, ws in entries for w in ws})
    column = {w: j for j, w in enumerate(words)}
    matrix = np.zeros((IMAGENET_CLASSES, len(words)), np.float32)
    for index, ws in entries:
        for rank, w in enumerate(ws):
            matrix[index, column[w]] = 1.0 if rank == 0 else 0.5
    return words, matrix


@dataclass(frozen=True)
class DetectorConcept:
    words: tuple[str, ...]  # the caption words that express it
    implied: tuple[str, ...]  # words blocked with it (only said of it)
    imagenet_word: str | None  # the ImageNet word that must also be likely for it to be present


def load_concept_words(path: str | Path = FLICKR_CONCEPTS) -> dict[str, DetectorConcept]:
    """Detector concept -> its words, implied words and ImageNet word ("-" in the file: none)."""
    def split(field: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in field.split(",") if w.strip() and w.strip() != "-")

    concepts = {}
    for _, fields in _rows(Path(path), 4):
        imagenet = fields[3].strip()
        concepts[fields[0].strip()] = DetectorConcept(split(fields[1]), split(fields[2]), None if imagenet == "-" else imagenet)
    return concepts


@dataclass(frozen=True)
class Cooccurrence:
    """How often COCO's captions name two words in the same photo (scripts/count_cooccurrence.py)."""

    images: dict[str, int]  # word -> photos naming it
    both: dict[str, dict[str, int]]  # word -> other word -> photos naming both

    def given(self, first: str, second: str) -> float:
        """P(a photo's captions name `second` | they name `first`); 0 for a word the table lacks."""
        return self.both.get(first, {}).get(second, 0) / max(self.images.get(first, 0), 1)


def load_cooccurrence(path: str | Path = COOCCURRENCE) -> Cooccurrence:
    """The co-occurrence table, or a one-line error naming the file and line."""
    images: dict[str, int] = {}
    both: dict[str, dict[str, int]] = {}
    for number, fields in _rows(Path(path), 3):
        word = fields[0].strip()
        try:
            images[word] = int(fields[1])
            pairs = [] if fields[2].strip() == "-" else [item.rsplit(":", 1) for item in fields[2].split()]
            both[word] = {other: int(n) for other, n in pairs}
        except ValueError:
            raise CaptionerError(f"concept table {path}:{number}: expected photos and other:count pairs") from None
        if images[word] < 0 or any(n < 0 or n > images[word] for n in both[word].values()):
            raise CaptionerError(f"concept table {path}:{number}: counts must be between 0 and the word's photos")
    return Cooccurrence(images, both)
