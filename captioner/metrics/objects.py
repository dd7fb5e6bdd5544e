"""Which COCO object kinds a caption names: hallucination rate and object recall.

A caption *hallucinates* when it names one of the 80 COCO object kinds that none of the image's
reference captions names (person words count as "person"), the CHAIR measure of Rohrbach et al.
(2018) with our own synonym table (`coco_objects.tsv`). *Object recall* is the share of images
whose references name some object where the caption names at least one of those objects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from captioner.data.cleaning import clean_caption
from captioner.errors import CaptionerError

TABLE = Path(__file__).resolve().parent / "coco_objects.tsv"


def plural_forms(word: str) -> set[str]:
    """The word and its regular plural (the last word of a phrase is the one inflected)."""
    *head, last = word.split()
    forms = {last, last + "s"}
    if last.endswith(("s", "x", "ch", "sh")):
        forms.add(last + "es")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        forms.add(last[:-1] + "ies")
    return {" ".join(head + [f]) for f in forms}


@lru_cache(maxsize=4)
def load_object_table(path: str | Path = TABLE) -> dict[tuple[str, ...], str]:
    """Word or phrase (as a token tuple, plurals included) -> COCO object kind."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CaptionerError(f"object table {path} cannot be read ({exc.strerror})") from None
    table: dict[tuple[str, ...], str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, words = line.partition("\t")
        if not tab or not words.strip():
            raise CaptionerError(f"object table {path}:{number}: expected 'object<TAB>word,word,...'")
        for word in words.split(","):
            for form in plural_forms(word.strip()):
                table[tuple(form.split())] = name.strip()
    return table


def objects_named(caption: str, table: dict[tuple[str, ...], str] | None = None) -> set[str]:
    """COCO object kinds named in `caption`; the longest phrase wins ("teddy bear" is not "bear")."""
    table = table if table is not None else load_object_table()
    longest = max((len(k) for k in table), default=1)
    tokens = clean_caption(caption)
    found: set[str] = set()
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            kind = table.get(tuple(tokens[i : i + n]))
            if kind is not None:
                found.add(kind)
                i += n
                break
        else:
            i += 1
    return found


def object_scores(references: dict[str, list[str]], captions: dict[str, str]) -> dict[str, float | int]:
    """Hallucination (share of captions, and of object mentions) and object recall over `captions`."""
    table = load_object_table()
    hallucinated_captions = mentions = hallucinated_mentions = recall_images = recalled = 0
    for image_id, caption in captions.items():
        truth = set().union(*(objects_named(r, table) for r in references[image_id]))
        named = objects_named(caption, table)
        wrong = named - truth
        hallucinated_captions += bool(wrong)
        mentions += len(named)
        hallucinated_mentions += len(wrong)
        if truth:
            recall_images += 1
            recalled += bool(named & truth)
    count = max(len(captions), 1)
    return {
        "hallucinated_captions": hallucinated_captions / count,
        "hallucinated_mentions": hallucinated_mentions / max(mentions, 1),
        "object_recall": recalled / max(recall_images, 1),
        "images_with_objects": recall_images,
    }
