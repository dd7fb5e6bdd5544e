"""The 80 COCO object kinds and the words captions use for them (`coco_objects.tsv`).

Used to tell which objects a caption names (metrics: hallucination and recall) and which words
name the same thing (grounding: a required "car" is satisfied by "taxi" or "cars").
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

from captioner.runtime.data.cleaning import clean_caption
from captioner.errors import CaptionerError

TABLE = Path(__file__).resolve().parent / "coco_objects.tsv"


def plural_forms(word: str) -> set[str]:
    """The word and its regular plural (the last word of a phrase is the one inflected)."""
    *head, last = word.split()
    if last.endswith(("s", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return {" ".join(head + [f]) for f in (last, plural)}


@lru_cache(maxsize=4)
def _table_rows(path: str | Path = TABLE) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The table's rows as written: (kind, its words and phrases in order), read and checked once."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CaptionerError(f"object table {path} cannot be read ({exc.strerror})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, words = line.partition("\t")
        if not tab or not words.strip():
            raise CaptionerError(f"object table {path}:{number}: expected 'object<TAB>word,word,...'")
        rows.append((name.strip(), tuple(w.strip() for w in words.split(",") if w.strip())))
    return tuple(rows)


@lru_cache(maxsize=4)
def load_object_table(path: str | Path = TABLE) -> dict[tuple[str, ...], str]:
    """Word or phrase (as a token tuple, plurals included) -> COCO object kind."""
    return {tuple(form.split()): kind for kind, words in _table_rows(path) for word in words for form in plural_forms(word)}


@lru_cache(maxsize=4)
def kind_names(path: str | Path = TABLE) -> dict[str, list[str]]:
    """COCO object kind -> its one-word names as the table lists them (the first is the one shown and
    required: "table" for dining table), without generated plurals; kinds named only by phrases map to []."""
    return {kind: [w for w in words if " " not in w] for kind, words in _table_rows(path)}


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


def objects_in(texts: Iterable[str], table: dict[tuple[str, ...], str] | None = None) -> set[str]:
    """COCO object kinds that any of `texts` names (an image's references: the kinds truly there)."""
    table = table if table is not None else load_object_table()
    return set().union(*(objects_named(t, table) for t in texts))
