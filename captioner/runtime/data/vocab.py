"""Word <-> index mapping with padding, start, end and unknown tokens."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

PAD, BOS, EOS, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


@dataclass
class Vocabulary:
    words: list[str]  # index -> word; the first four are SPECIALS

    def __post_init__(self) -> None:
        if tuple(self.words[:4]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}")
        self.index = {w: i for i, w in enumerate(self.words)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_count: int = 5) -> "Vocabulary":
        """Keep words seen at least `min_count` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for tokens in token_lists for w in tokens)
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: list[str]) -> list[int]:
        """Words -> ids wrapped in start/end tokens; unknown words map to <unk>."""
        return [self.bos_id] + [self.index.get(w, self.unk_id) for w in tokens] + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> words, stopping at <end> and dropping start/padding tokens."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            words.append(self.words[i])
        return words
