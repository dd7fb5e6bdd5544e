"""How to caption: one options object for search and grounding, with one validator and one source
of defaults (the search engine's SearchConfig). The CLI builds its flags from it, the Python API
takes its fields as keywords, the web service and Ray pass it on as it is."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from captioner.errors import InputError
from captioner.runtime.search.engine import SearchConfig

_SEARCH = SearchConfig()

# a help line per option: the CLI's flags, the API's docs
HELP = {
    "beam_size": "beam width; 1 = greedy",
    "max_length": "longest caption in words",
    "length_penalty": "beam score = log-prob / length**alpha",
    "no_repeat_ngram": "forbid repeating n-grams of this size; 0 = off",
    "exhaustive": "keep searching after beam-size finished captions while a live one may beat them",
    "grounding": "constrain the caption with the photo's visual concepts (off: the plain caption)",
    "attention": "also return, per word, where an attention decoder looked",
}


@dataclass(frozen=True)
class CaptionOptions:  # frozen: hashable, so equal options share a cache entry and a batch
    beam_size: int = _SEARCH.beam_size
    max_length: int = _SEARCH.max_length
    length_penalty: float = _SEARCH.length_penalty
    no_repeat_ngram: int = _SEARCH.no_repeat_ngram
    exhaustive: bool = _SEARCH.exhaustive
    grounding: bool = True
    attention: bool = False

    def __post_init__(self):
        problems = []
        for name in ("beam_size", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {value!r}")
        if isinstance(self.no_repeat_ngram, bool) or not isinstance(self.no_repeat_ngram, int) or self.no_repeat_ngram < 0:
            problems.append(f"no_repeat_ngram must be a whole number of at least 0, not {self.no_repeat_ngram!r}")
        if isinstance(self.length_penalty, bool) or not isinstance(self.length_penalty, (int, float)) \
                or not math.isfinite(self.length_penalty):
            problems.append(f"length_penalty must be a finite number, not {self.length_penalty!r}")
        for name in ("exhaustive", "grounding", "attention"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, not {getattr(self, name)!r}")
        if problems:
            raise InputError("; ".join(problems))

    @property
    def search(self) -> SearchConfig:
        """The search engine's settings (its own fields that are not options keep their defaults)."""
        return replace(_SEARCH, beam_size=self.beam_size, max_length=self.max_length, length_penalty=self.length_penalty,
                       no_repeat_ngram=self.no_repeat_ngram, exhaustive=self.exhaustive)


OPTION_NAMES = tuple(f.name for f in fields(CaptionOptions))
