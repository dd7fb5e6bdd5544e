"""CIDEr-D as a per-caption reward for self-critical training, with document frequencies fixed on
the training references (as in Rennie et al. 2017), so one caption is scored in microseconds.

The formula is coco-caption's (pycocoevalcap `Cider`, which is CIDEr-D): tf-idf n-gram vectors for
n = 1..4, the candidate's counts clipped by the reference's, a Gaussian penalty (sigma 6) on the
length difference, the mean over n and over references, times 10. With document frequencies taken
from the same references it reproduces pycocoevalcap's per-image scores (tests/training/test_rewards.py).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable, Sequence

from captioner.runtime.data.objects import load_object_table, objects_in, objects_named


def ngrams(tokens: Sequence[str], n: int = 4) -> list[Counter]:
    """Counts of the 1..n-grams of `tokens`, one Counter per order."""
    return [Counter(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)) for k in range(1, n + 1)]


class CiderD:
    def __init__(self, references: Iterable[Sequence[Sequence[str]]], n: int = 4, sigma: float = 6.0):
        """references: for every image of the corpus, its reference captions as token lists."""
        self.n, self.sigma = n, sigma
        frequency: Counter = Counter()
        images = 0
        for refs in references:
            images += 1
            frequency.update({g for ref in refs for order in ngrams(ref, n) for g in order})
        self.document_frequency = frequency
        self.log_images = math.log(float(max(images, 1)))
        self._refs: dict = {}

    def _vector(self, tokens: Sequence[str]) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [defaultdict(float) for _ in range(self.n)]
        norm = [0.0] * self.n
        for k, counts in enumerate(ngrams(tokens, self.n)):
            for gram, tf in counts.items():
                weight = tf * (self.log_images - math.log(max(1.0, self.document_frequency.get(gram, 0.0))))
                vec[k][gram] = weight
                norm[k] += weight * weight
        return vec, [math.sqrt(x) for x in norm], len(tokens)

    def _similarity(self, hyp, ref) -> list[float]:
        (vh, nh, lh), (vr, nr, lr) = hyp, ref
        penalty = math.exp(-((lh - lr) ** 2) / (2 * self.sigma ** 2))
        out = []
        for k in range(self.n):
            dot = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
            out.append(dot / (nh[k] * nr[k]) * penalty if nh[k] and nr[k] else 0.0)
        return out

    def reference_vectors(self, key, refs: Sequence[Sequence[str]]) -> list:
        """The tf-idf vectors of one image's references, computed once per key."""
        if key not in self._refs:
            self._refs[key] = [self._vector(r) for r in refs]
        return self._refs[key]

    def score(self, hypothesis: Sequence[str], references: Sequence[Sequence[str]], key=None) -> float:
        """CIDEr-D of one tokenised caption against its image's tokenised references."""
        refs = self.reference_vectors(key, references) if key is not None else [self._vector(r) for r in references]
        if not refs:
            return 0.0
        hyp = self._vector(hypothesis)
        total = [0.0] * self.n
        for ref in refs:
            for k, value in enumerate(self._similarity(hyp, ref)):
                total[k] += value
        return sum(total) / self.n / len(refs) * 10.0


class ObjectReward:
    """A caption's object reward against its image's references, by the COCO object kinds named
    (evaluation/hallucination.py's measure, per caption): +1 when it names a kind some reference names
    (object recall; only for an image whose references name one), -1 when it names a kind none of them
    names (a hallucinated caption), so between -1 and 1. Self-critical training adds it, times
    `SelfCriticalConfig.object_reward`, to CIDEr-D."""

    def __init__(self, references: dict[str, Sequence[Sequence[str]]]):
        """references: image id -> its reference captions as token lists."""
        self.table = load_object_table()
        self.truth = {key: objects_in((" ".join(r) for r in refs), self.table) for key, refs in references.items()}

    def score(self, hypothesis: Sequence[str], key) -> float:
        named = objects_named(" ".join(hypothesis), self.table)
        truth = self.truth[key]
        return float(bool(named & truth)) - float(bool(named - truth))
