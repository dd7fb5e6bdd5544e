"""Caption cleaning, the same rules as the original tutorials (so their vocabularies match)."""

from __future__ import annotations

import re

_NON_LETTERS = re.compile(r"[^a-z ]+")


def clean_caption(text: str) -> list[str]:
    """Lowercase, strip punctuation and digits, drop one-letter tokens except 'a'."""
    text = text.lower().replace("'s", "").replace("-", " ")
    words = _NON_LETTERS.sub(" ", text).split()
    return [w for w in words if len(w) > 1 or w == "a"]
