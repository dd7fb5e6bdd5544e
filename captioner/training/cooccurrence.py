"""How often two words are named in the captions of the same photo: the table grounding reads to
decide whether a second required word belongs with the first (`GroundingConfig.second_cooccurrence`).

A photo names a word when one of its captions says any of the word's forms (`synonyms`: its plural
and the other one-word names of its COCO kind). Counted per photo, not per caption, so that "a bus"
in one caption and "a truck" in another count as seen together.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from captioner.errors import CaptionerError
from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.grounding.grounding import synonyms


def read_image_captions(path: str | Path) -> dict[str, list[str]]:
    """A COCO-format captions JSON ({"annotations": [{"image_id", "caption"}]}) -> photo -> its captions."""
    path = Path(path)
    try:
        annotations = json.loads(path.read_text(encoding="utf-8"))["annotations"]
        by_image: dict[str, list[str]] = defaultdict(list)
        for a in annotations:
            if isinstance(a.get("caption"), str):
                by_image[str(a["image_id"])].append(a["caption"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CaptionerError(f"{path}: not a COCO captions JSON ({type(exc).__name__}: {exc})") from None
    if not by_image:
        raise CaptionerError(f"{path}: no captions")
    return dict(by_image)


def count_cooccurrence(captions: dict[str, list[str]], words: list[str]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Per word, the photos naming it; per pair of words, the photos naming both (pairs never seen
    together are left out)."""
    forms = {w: synonyms(w) for w in words}
    by_form: dict[str, list[str]] = defaultdict(list)  # a token -> the words it names
    for w, fs in forms.items():
        for f in fs:
            if " " not in f:
                by_form[f].append(w)
    images = dict.fromkeys(words, 0)
    pairs: dict[str, dict[str, int]] = {w: defaultdict(int) for w in words}
    for texts in captions.values():
        tokens = {t for text in texts for t in clean_caption(text)}
        named = sorted({w for t in tokens for w in by_form.get(t, ())})
        for a in named:
            images[a] += 1
            for b in named:
                if b != a:
                    pairs[a][b] += 1
    return images, {w: dict(p) for w, p in pairs.items()}


def format_table(images: dict[str, int], pairs: dict[str, dict[str, int]], source: str) -> str:
    """The TSV `runtime/grounding/tables.load_cooccurrence` reads: word, photos naming it, and
    `other:photos naming both` pairs (most first; "-" for none)."""
    lines = [f"# {source}: the photos whose captions name a word, and name it with another (scripts/count_cooccurrence.py)",
             "# word\tphotos\tother:both ..."]
    for w in sorted(images):
        together = sorted(pairs[w].items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append(f"{w}\t{images[w]}\t" + (" ".join(f"{b}:{n}" for b, n in together) or "-"))
    return "\n".join(lines) + "\n"
