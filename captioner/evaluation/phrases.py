"""Phrase over-use: how much more often captions say a phrase than people do, and broken repeats.

A phrase is a word n-gram (1 to `MAX_N` words) of the cleaned caption. Its *rate* in a set of
captions is the share of captions that contain it. Our rate is over the captions scored (one per
image); the references' rate is over all reference captions of the same images. A phrase is
*over-used* by `ours - references`; the report lists the phrases with the largest excess, and a
caption is *broken* when it says some bigram twice ("a dog and a dog"), or a word on both sides of
"and" or "or" ("a white and white dog").
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.search import SearchConfig

JOINERS = SearchConfig.no_repeat_across  # the words a word may not be said on both sides of

MAX_N = 3  # longest phrase counted ("black and white", "in the water")
TOP = 10  # over-used phrases listed
MIN_CAPTIONS = 3  # a phrase is listed only when at least this many of our captions say it
# phrases the report always shows, the ones everyday photos were known to get wrong (issue 20)
WATCHED = ("black and white", "in the water", "shirt")


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """The distinct n-grams of one token list."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def phrase_set(tokens: list[str], max_n: int = MAX_N) -> set[tuple[str, ...]]:
    """Every distinct phrase of 1..max_n words in a caption."""
    return set().union(*(ngrams(tokens, n) for n in range(1, max_n + 1)))


def repeats_bigram(tokens: list[str]) -> bool:
    """Whether some bigram occurs twice in the caption."""
    pairs = list(zip(tokens, tokens[1:]))
    return len(set(pairs)) < len(pairs)


def repeats_across(tokens: list[str], joiners: tuple[str, ...] = JOINERS) -> bool:
    """Whether some word is said on both sides of a joiner ("white and white")."""
    return any(a == c and b in joiners for a, b, c in zip(tokens, tokens[1:], tokens[2:]))


def phrase_rates(captions: Iterable[list[str]], max_n: int = MAX_N) -> tuple[Counter, int]:
    """(phrase -> number of captions containing it, number of captions)."""
    counts: Counter = Counter()
    total = 0
    for tokens in captions:
        counts.update(phrase_set(tokens, max_n))
        total += 1
    return counts, total


def phrase_report(references: dict[str, list[str]], captions: dict[str, str], top: int = TOP,
                  watched: tuple[str, ...] = WATCHED) -> dict:
    """Over-used phrases of `captions` (one per image) against the references of the same images.

    Returns {"repeated_bigram": share of captions saying a bigram twice, "repeated_across": share
    saying a word on both sides of a joiner, "overused": [{phrase, ours,
    references}] largest excess first, "watched": {phrase: {ours, references}}}.
    """
    ours_tokens = [clean_caption(c) for c in captions.values()]
    ref_tokens = [clean_caption(r) for image_id in captions for r in references[image_id]]
    ours, n_ours = phrase_rates(ours_tokens)
    refs, n_refs = phrase_rates(ref_tokens)

    def rates(phrase: tuple[str, ...]) -> dict[str, float]:
        return {"ours": ours[phrase] / max(n_ours, 1), "references": refs[phrase] / max(n_refs, 1)}

    excess = sorted((p for p, k in ours.items() if k >= MIN_CAPTIONS),
                    key=lambda p: (-(rates(p)["ours"] - rates(p)["references"]), p))
    return {
        "repeated_bigram": sum(map(repeats_bigram, ours_tokens)) / max(n_ours, 1),
        "repeated_across": sum(map(repeats_across, ours_tokens)) / max(n_ours, 1),
        "overused": [{"phrase": " ".join(p), **rates(p)} for p in excess[:top]],
        "watched": {w: rates(tuple(w.split())) for w in watched},
    }
