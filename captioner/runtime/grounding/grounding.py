"""From pooled features to what a caption must and must not say.

`Grounder.ground` turns pooled encoder features into `ImageConcepts` per photo: the ImageNet
classifier's probabilities summed per caption word, the Flickr8k detectors' probabilities, the
confident words a caption must mention (at most `max_constraints`, never two fed by the same
classes) and the words of concepts that are confidently absent. `constraints_for` turns those
words into token-id constraints for the search, with plurals and synonyms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from captioner.runtime.grounding.detectors import ConceptDetectors, shipped_detectors, matmul, one_blas_thread
from captioner.runtime.grounding.tables import load_concept_words, load_cooccurrence, load_imagenet_table
from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.runtime.search import Constraints
from captioner.runtime.data.objects import kind_names, load_object_table, plural_forms


@dataclass
class GroundingConfig:
    """Defaults chosen with scripts/calibrate_grounding.py on coco-dev and the Flickr8k val split."""

    # Photos unlike the decoder's training photos ("everyday" photos: the everyday-photo classifier,
    # Flickr8k vs unlabeled COCO photos, gives at least `everyday_threshold`) are grounded fully:
    # every word whose summed ImageNet probability reaches `present_threshold` may be required. On
    # Flickr8k-like photos only words the decoder rarely saw (outside its `familiar_words` most
    # frequent training words) may be, from `familiar_present`: the rest it already says well.
    present_threshold: float = 0.085
    familiar_present: float = 0.3
    everyday_threshold: float = 0.6
    familiar_words: int = 400
    max_constraints: int = 2  # most words one caption is made to mention
    # a word after the first is required only this far over its threshold (probability / threshold):
    # a second required word is where most hallucinated objects come from (docs/grounding.md)
    second_over: float = 1.5  # 1.0 before the sixth session
    # and only when COCO's captions name it in at least this share of the photos they name each word
    # already required in (runtime/grounding/cooccurrence.tsv; 0: any pair): "a bus on a train
    # track" pairs two kinds the detectors confuse and people rarely name together; chosen on coco-dev
    # and the coco-train hold-out (docs/grounding.md)
    second_cooccurrence: float = 0.1  # 0.03 before the sixth session
    overlap: float = 0.5  # skip a word when this share of its probability comes from an already required word's classes
    absent_scale: float = 1.0  # multiplies the detectors' calibrated absent thresholds (0 never blocks)
    # An everyday photo, or one with a required word the decoder rarely saw, is "unfamiliar": there a
    # Flickr8k concept must reach `grounded_absent` to stay allowed (the person detector says 0.6
    # for a pizza), a COCO object kind the classifier covers is blocked, with all its names, when
    # its summed probability stays under `unseen_object`, and the language model trained on
    # everyday captions joins the search with weight `lm_weight` (`lm_weight_familiar` elsewhere).
    grounded_absent: float = 0.8
    # Whether a Flickr8k-like photo with a required word the decoder rarely saw is "unfamiliar" too
    # (False: only everyday photos are; such a photo keeps its required word and nothing else changes)
    unfamiliar_from_words: bool = True
    # and only when the everyday classifier gives it at least this (0: at any): a photo the classifier
    # finds Flickr8k-like keeps the Flickr8k decoder (`everyday_source_from`), and then the everyday
    # photos' rules (blocking, the language model) do not fit it either
    unfamiliar_words_from: float = 0.0
    unseen_object: float = 0.05
    lm_weight: float = 0.6  # chosen with the everyday decoder on coco-dev and the coco-train hold-out (docs/grounding.md)
    # the background language model's share (density-ratio fusion: its log-probabilities are
    # subtracted, times this, from the fused language model's); chosen on coco-dev and the
    # coco-train hold-out (docs/grounding.md: scripts/try_density_ratio.py)
    lm_background_weight: float = 0.3
    lm_weight_familiar: float = 0.0
    lm_everyday: float = 0.8  # an everyday photo gets the language model from this probability on
    # and its captions are ranked with this length penalty (shorter than Flickr8k's: COCO captions
    # are terse), None keeping the search's own
    unfamiliar_length_penalty: float | None = 0.7
    shown: int = 5  # ImageNet words listed per photo
    # The COCO object kind detectors (data/coco_objects.tsv, learned from captions): on an everyday
    # photo a kind reaching `kind_present` may be required (its first one-word name), ranked with the
    # ImageNet words by how far each is over its threshold; on an unfamiliar photo a kind under its
    # calibrated absent threshold (times `absent_scale`) is blocked with all its names, and so is a kind
    # the ImageNet classes cover but do not see (`unseen_object`) unless its detector reaches `kind_present`.
    kind_present: float = 0.7  # chosen on coco-dev and the coco-train hold-out (scripts/calibrate_grounding.py, README)
    # and on a Flickr8k-like photo, a kind the decoder rarely saw (its word outside `familiar_words`)
    # from this probability on (None: never there), so that a sheep the decoder would call a dog is named
    # (the photo is then unfamiliar: the everyday decoder writes it). Chosen with the two decoders on
    # coco-dev, the coco-train hold-out and Flickr8k val (docs/grounding.md)
    familiar_kind_present: float | None = 0.7
    # multiplies the kinds' calibrated absent thresholds (3% of held-out positives under them, a median
    # 0.0003 with the hidden-layer detectors): the everyday decoder names objects freely, and 1000 blocks
    # the kinds its photo's detector gives under about 0.3. Chosen on coco-dev and the coco-train
    # hold-out (docs/grounding.md)
    kind_absent_scale: float = 1000.0
    # an everyday photo none of whose required words names a COCO kind ("food", "plate", or none at
    # all) is made to name its likeliest kind when that kind's detector gives at least `kind_fallback`
    # (None: never), in the last required word's place when the slots are full
    kind_fallback: float | None = None
    # an ImageNet word naming a COCO kind that has a detector is required only when that detector gives
    # at least this (None: the ImageNet word alone decides): ImageNet's "passenger car" makes a bus a
    # train, its "paddle" a surfer's board a boat. Chosen on coco-dev, the coco-train hold-out and
    # Flickr8k val, for words after the first (docs/grounding.md)
    kind_confirm: float | None = 0.3
    kind_confirm_first: bool = False  # False: the rule spares the first required word (only later ones need it)
    # an unfamiliar photo is captioned as an everyday one (the everyday decoder of a model that has one,
    # grounding.decoder_sources) when the everyday classifier gives it at least this; 0: every
    # unfamiliar photo, also a Flickr8k-like one made unfamiliar by a rare required word. With the
    # hidden-layer classifier, 0.4 sends most such Flickr8k photos back to the Flickr8k decoder and keeps
    # the everyday ones; chosen on coco-dev, the coco-train hold-out and Flickr8k val (docs/grounding.md)
    everyday_source_from: float = 0.4  # 0.0 before the seventh session
    # rank the kinds the detectors found (over `kind_present`) before the ImageNet words, so that the
    # caption says "broccoli" where the classifier's "food" and "plate" would take the slots; False: all
    # by how far over their thresholds
    kinds_first: bool = True  # chosen on coco-dev, the hold-out and Flickr8k val (docs/grounding.md)
    # a blocked kind's names of several words ("stop sign", "teddy bear") are banned as phrases too, where
    # banning its one-word names leaves them sayable (False: only its words). Chosen on coco-dev, the
    # hold-out and Flickr8k val (docs/grounding.md)
    block_kind_phrases: bool = True
    kinds_on_familiar: bool = True  # block absent kinds on Flickr8k-like photos too (not only unfamiliar ones)
    # there with their calibrated absent thresholds times this (None: `kind_absent_scale`, as on
    # unfamiliar photos): gentler than on unfamiliar ones, so that Flickr8k's captions keep their
    # objects. Chosen with familiar_kind_present on the same sets (docs/grounding.md)
    familiar_kind_absent_scale: float | None = 30.0
    kinds_shown: int = 5  # detected kinds listed per photo, the likeliest from `kind_shown_from` on
    kind_shown_from: float = 0.2
    blocked_shown: int = 40  # blocked concepts and kinds listed per photo
    # The phrase detectors (phrases our captions over-use, learned from captions): on an unfamiliar
    # photo a phrase whose probability is under what `phrase_miss_rate` of the held-out photos that
    # do fit it fall under may not be said (0: never blocked)
    phrase_miss_rate: float = 0.1  # chosen on coco-dev and the coco-train hold-out (README)
    # On an unfamiliar photo at least this colourful (runtime/grounding/colour.py: 0 for grayscale, about
    # 3 for sepia, a median 35 on COCO) `colour_phrases` may not be said: the decoder calls colour
    # photos it cannot name "a black and white image of ...". None: never. Chosen on coco-dev and the
    # hold-out: 5 keeps the phrase for the grayscale and near-sepia photos whose references say it
    colourful: float | None = 5.0
    colour_phrases: tuple[str, ...] = ("black and white",)


@dataclass
class ImageConcepts:
    words: dict[str, float]  # ImageNet word -> summed probability (the most likely `shown`)
    detected: dict[str, float]  # Flickr8k concept or COCO kind -> detector probability
    required: list[str] = field(default_factory=list)  # words the caption must mention
    blocked: list[str] = field(default_factory=list)  # concepts and COCO kinds confidently absent
    unfamiliar: bool = False  # an everyday photo, or a required word the decoder rarely saw
    everyday: float = 0.0  # the everyday-photo classifier's probability
    blocked_words: list[str] = field(default_factory=list)  # every word the blocked concepts forbid
    reasons: dict[str, str] = field(default_factory=dict)  # blocked concept -> why, in words
    blocked_phrases: list[str] = field(default_factory=list)  # phrases the caption may not say
    # the blocked kinds' names of several words that banning their words leaves sayable ("stop sign":
    # "sign" stays allowed), banned as n-grams in the search
    blocked_names: list[str] = field(default_factory=list)

    def to_dict(self, limit: int = GroundingConfig.blocked_shown) -> dict:
        return {"imagenet": [{"word": w, "score": round(p, 4)} for w, p in self.words.items()],
                "detected": [{"concept": c, "score": round(p, 4)} for c, p in self.detected.items()],
                "required": self.required, "blocked": self.blocked[:limit],
                "blocked_reasons": {c: self.reasons[c] for c in self.blocked[:limit] if c in self.reasons},
                "blocked_more": max(len(self.blocked) - limit, 0),
                "blocked_phrases": {p: self.reasons.get(p, "") for p in self.blocked_phrases}, "unfamiliar": self.unfamiliar,
                "everyday": round(self.everyday, 4)}


class Grounder:
    def __init__(self, classifier: tuple[np.ndarray, np.ndarray] | None, detectors: ConceptDetectors | None,
                 config: GroundingConfig | None = None, familiar: set[str] | None = None):
        """classifier: the encoder's ImageNet head, weight (1000, D) and bias (1000,); None for an
        encoder without one (Keras' no-top networks): then only the detectors ground, and no ImageNet
        word is required or blocks anything.
        familiar: the words the decoder knows well (see `familiar_words`); None treats every word so."""
        self.has_head = classifier is not None
        self.weight, self.bias = (np.asarray(a, np.float32) for a in classifier) if classifier is not None else (None, None)
        self.words, self.matrix = load_imagenet_table()  # (1000, W)
        self.detectors = detectors
        self.concept_words = load_concept_words()
        self.config = config or GroundingConfig()
        self.familiar = familiar
        self.cooccurrence = load_cooccurrence()
        objects = load_object_table()
        self.detector_words = {w for c in self.concept_words.values() for w in c.words}
        # per detector concept, the column of its ImageNet word (-1: none)
        self.imagenet_column = [self.words.index(w) if w in self.words and self.has_head else -1
                                for w in (detectors.imagenet_words if detectors else [])]
        self.object_columns: dict[str, list[int]] = {}  # COCO kind -> table words naming it (not people or dogs)
        for j, word in enumerate(self.words):
            kind = objects.get((word,))
            if kind and word not in self.detector_words and kind != "person":
                self.object_columns.setdefault(kind, []).append(j)
        kinds = list(self.object_columns.values())
        self.kind_matrix = np.zeros((len(self.words), len(kinds)), np.float32)  # (W, K): which words name each kind
        for i, columns in enumerate(kinds):
            self.kind_matrix[columns, i] = 1.0
        self.kind_names = [sorted(synonyms(self.words[columns[0]])) for columns in kinds]  # what blocking a kind blocks
        self.kind_of_column = {j: kind for kind, columns in self.object_columns.items() for j in columns}
        # the kind detectors: per kind its required word, its one-word names, and whether the Flickr8k
        # detectors and the decoder own it (person, dog)
        names = kind_names()
        self.kinds = list(detectors.kinds) if detectors else []
        self.kind_word = [required_word(k) for k in self.kinds]
        self.kind_all_names = [sorted(set().union(*(plural_forms(w) for w in names[k]))) for k in self.kinds]  # one-word names
        self.kind_owned = [bool(set(names[k]) & self.detector_words) for k in self.kinds]
        self.kind_phrases: dict[str, list[tuple[str, ...]]] = {}  # COCO kind -> its names of several words
        for name, kind in objects.items():
            if len(name) > 1:
                self.kind_phrases.setdefault(kind, []).append(name)

    def class_probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> ImageNet softmax (N, 1000); all zeros without a head (no class is seen)."""
        if not self.has_head:
            return np.zeros((len(pooled), len(self.matrix)), np.float32)
        logits = matmul(pooled, self.weight.T) + self.bias  # (N, 1000)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def word_probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> summed ImageNet probability per caption word (N, W)."""
        return matmul(self.class_probabilities(pooled), self.matrix)

    def ground(self, pooled: np.ndarray, config: GroundingConfig | None = None,
               probs: np.ndarray | None = None, colour: np.ndarray | list[float] | None = None) -> list[ImageConcepts]:
        """Concepts per photo, with `config` instead of the grounder's own settings if given.

        probs: the ImageNet probabilities (N, 1000) when the encoder computed them (else the head here).
        colour: each photo's colourfulness (runtime/grounding/colour.py), None when unknown."""
        cfg = config or self.config
        familiar = self.familiar
        detectors = self.detectors
        with one_blas_thread():
            probs = self.class_probabilities(pooled) if probs is None else np.asarray(probs, np.float32)  # (N, 1000)
            # (all zeros without a head: no word then reaches a threshold, and `words` lists none)
            word_probs = matmul(probs, self.matrix)  # (N, W)
            detected = detectors.predict(pooled) if detectors else np.zeros((len(probs), 0))  # (N, C)
            everyday = detectors.everyday(pooled) if detectors else np.zeros(len(probs))  # (N,)
            kind_probs = matmul(word_probs, self.kind_matrix)  # (N, K) summed probability of each COCO kind's words
            kind_det = detectors.kind_probabilities(pooled) if detectors else np.zeros((len(probs), 0))  # (N, K2)
            phrase_det = detectors.phrase_probabilities(pooled) if detectors else np.zeros((len(probs), 0))  # (N, P)
        names = detectors.concepts if detectors else []
        absent_below = detectors.absent_below * cfg.absent_scale if detectors else np.zeros(0)
        imagenet_below = detectors.imagenet_absent_below * cfg.absent_scale if detectors else np.zeros(0)
        calibrated = (detectors.kind_absent_below * cfg.absent_scale if detectors is not None
                      and detectors.kind_absent_below is not None else np.zeros(0))  # (K,)
        kind_below = calibrated * cfg.kind_absent_scale  # on unfamiliar photos
        familiar_kind_below = calibrated * (cfg.kind_absent_scale if cfg.familiar_kind_absent_scale is None
                                            else cfg.familiar_kind_absent_scale)
        kind_index = {kind: k for k, kind in enumerate(self.kinds)}
        phrases = detectors.phrases if detectors else []
        phrase_below = detectors.phrase_absent_below(cfg.phrase_miss_rate) if phrases else np.zeros(0)

        def kind_score(n: int, kind: str) -> float:  # how likely a blocked kind still was (the listing's order)
            return float(kind_det[n, kind_index[kind]]) if kind in kind_index else 0.0  # 0 without a detector

        def kind_doubted(n: int, kind: str) -> bool:  # its detector (if any) would not require it
            k = kind_index.get(kind)
            return k is None or kind_det[n, k] < cfg.kind_present

        results = []
        for n in range(len(probs)):
            order = np.argsort(-word_probs[n])
            is_everyday = bool(everyday[n] >= cfg.everyday_threshold)
            threshold = cfg.present_threshold if is_everyday else cfg.familiar_present
            # candidates: ImageNet words over their threshold and, on everyday photos, detected COCO kinds
            # over theirs, the furthest over first (how far: probability / threshold)
            candidates = [(float(word_probs[n, j]) / threshold, "word", int(j)) for j in order
                          if word_probs[n, j] >= threshold]
            kind_present = cfg.kind_present if is_everyday else cfg.familiar_kind_present
            if kind_present is not None:  # on a Flickr8k-like photo, like its ImageNet words: only kinds the decoder rarely saw
                candidates += [(float(kind_det[n, k]) / kind_present, "kind", k) for k in range(len(self.kinds))
                               if kind_det[n, k] >= kind_present and not self.kind_owned[k]
                               and (is_everyday or familiar is None or self.kind_word[k] not in familiar)]
            if cfg.kinds_first:  # the detected kinds before the ImageNet words, then the furthest over first
                candidates.sort(key=lambda c: (c[1] != "kind", -c[0]))
            else:
                candidates.sort(key=lambda c: -c[0])
            required: list[int] = []  # ImageNet columns
            required_words: list[str] = []
            required_kinds: set[str] = set()
            for over, source, j in candidates:
                if len(required_words) >= cfg.max_constraints:
                    break
                if required_words and over < cfg.second_over:
                    continue
                word = self.kind_word[j] if source == "kind" else self.words[j]
                known = self.cooccurrence.images
                if required_words and min((self.cooccurrence.given(w, word) for w in required_words
                                           if w in known and word in known), default=1.0) < cfg.second_cooccurrence:
                    continue  # rarely named with what is already required (words the table lacks: no evidence, no rule)
                if source == "kind":
                    if self.kinds[j] not in required_kinds:
                        required_kinds.add(self.kinds[j])
                        required_words.append(self.kind_word[j])
                    continue
                if self.words[j] in self.detector_words:  # people and dogs: the decoder's and detectors' own job
                    continue
                if not is_everyday and familiar is not None and self.words[j] in familiar:
                    continue
                if self.kind_of_column.get(j) in required_kinds:
                    continue
                if (required_words or cfg.kind_confirm_first) and \
                        not self.confirmed(cfg, kind_det[n], kind_index, self.kind_of_column.get(j)):
                    continue
                shared = max((float((probs[n] * self.matrix[:, i] * self.matrix[:, j]).sum()) for i in required), default=0.0)
                if shared <= cfg.overlap * word_probs[n, j]:
                    required.append(int(j))
                    required_words.append(self.words[j])
                    if j in self.kind_of_column:
                        required_kinds.add(self.kind_of_column[j])
            if is_everyday and not required_kinds and cfg.kind_fallback is not None and cfg.max_constraints > 0:
                free = [k for k in range(len(self.kinds)) if not self.kind_owned[k]]
                best = max(free, key=lambda k: kind_det[n, k], default=None)
                if best is not None and kind_det[n, best] >= cfg.kind_fallback:
                    if len(required_words) >= cfg.max_constraints:  # the kind takes the last word's slot
                        required_words.pop()  # no kind required: every required word is an ImageNet word's
                        required.pop()
                    required_kinds.add(self.kinds[best])
                    required_words.append(self.kind_word[best])
            rare_word = any(w not in familiar for w in required_words) if familiar is not None else False
            unfamiliar = is_everyday or (cfg.unfamiliar_from_words and rare_word
                                         and bool(everyday[n] >= cfg.unfamiliar_words_from))  # a bool for the JSON
            blocked: list[str] = []  # words
            names_blocked: list[str] = []  # blocked kinds' names of several words
            shown: list[str] = []  # concepts and kinds
            reasons: dict[str, str] = {}
            for c, name in enumerate(names):
                concept = self.concept_words.get(name)
                if concept is None or set(concept.words) & set(required_words):
                    continue
                below = max(absent_below[c], cfg.grounded_absent) if unfamiliar else absent_below[c]
                column = self.imagenet_column[c]
                if detected[n, c] < below:
                    reasons[name] = f"{detected[n, c]:.2f}, below {below:.2f} needed" + (
                        " on everyday photos" if unfamiliar and below == cfg.grounded_absent else "")
                elif column >= 0 and word_probs[n, column] < imagenet_below[c]:
                    reasons[name] = f"ImageNet {concept.imagenet_word} {word_probs[n, column]:.2f}, below {imagenet_below[c]:.2f}"
                else:
                    continue
                shown.append(name)
                blocked.extend(w for w in concept.words + concept.implied if w not in blocked)
            if unfamiliar or cfg.kinds_on_familiar:
                seen = set(blocked)
                by_kind: dict[str, list[str]] = {}
                for i, (kind, columns) in enumerate(self.object_columns.items()):
                    if unfamiliar and self.has_head and kind_probs[n, i] < cfg.unseen_object \
                            and not any(j in required for j in columns) \
                            and kind not in required_kinds and kind_doubted(n, kind):
                        by_kind[kind] = self.kind_names[i]
                        reasons[kind] = f"ImageNet {kind_probs[n, i]:.2f}, below {cfg.unseen_object:.2f}"
                for k, kind in enumerate(self.kinds):
                    below = kind_below[k] if unfamiliar else familiar_kind_below[k]
                    if not self.kind_owned[k] and kind not in required_kinds and kind_det[n, k] < below:
                        by_kind.setdefault(kind, self.kind_all_names[k])
                        reasons[kind] = f"{kind_det[n, k]:.2f}, below {below:.2f} needed"
                for kind in sorted(by_kind, key=lambda kind: kind_score(n, kind), reverse=True):
                    if any(w in required_words for w in by_kind[kind]):
                        continue
                    shown.append(kind)
                    blocked.extend(w for w in by_kind[kind] if w not in seen)
                    seen.update(by_kind[kind])
                    if cfg.block_kind_phrases:
                        names_blocked.extend(" ".join(p) for p in self.kind_phrases.get(kind, [])
                                             if not set(p) & set(required_words))
                names_blocked = [p for p in dict.fromkeys(names_blocked) if p.split()[-1] not in seen]
            blocked_phrases: list[str] = []
            if unfamiliar:
                said = set(required_words)
                for k, phrase in enumerate(phrases):
                    if phrase_det[n, k] < phrase_below[k] and not said & set(phrase.split()):
                        blocked_phrases.append(phrase)
                        reasons[phrase] = f"{phrase_det[n, k]:.3f}, below {phrase_below[k]:.3f} needed"
                if colour is not None and cfg.colourful is not None and colour[n] >= cfg.colourful:
                    for phrase in cfg.colour_phrases:
                        if phrase not in blocked_phrases and not said & set(phrase.split()):
                            blocked_phrases.append(phrase)
                            reasons[phrase] = f"colourful {colour[n]:.1f}, over {cfg.colourful:g}: not a grayscale photo"
            detected_kinds = sorted(((self.kinds[k], float(kind_det[n, k])) for k in range(len(self.kinds))
                                     if kind_det[n, k] >= cfg.kind_shown_from and self.kinds[k] not in names), key=lambda x: -x[1])
            results.append(ImageConcepts(
                words={self.words[j]: float(word_probs[n, j]) for j in order[: cfg.shown]} if self.has_head else {},
                detected={**{name: float(detected[n, c]) for c, name in enumerate(names)},
                          **dict(detected_kinds[: cfg.kinds_shown])},
                required=required_words, blocked=shown, unfamiliar=unfamiliar, everyday=float(everyday[n]),
                blocked_words=blocked, reasons={k: reasons[k] for k in shown + blocked_phrases},
                blocked_phrases=blocked_phrases, blocked_names=names_blocked))
        return results

    @staticmethod
    def confirmed(cfg: GroundingConfig, kind_det: np.ndarray, kind_index: dict[str, int], kind: str | None) -> bool:
        """Whether an ImageNet word naming `kind` (None: no COCO kind) may be required: always, unless
        the kind has a detector and `kind_confirm` is set, when that detector (kind_det: (K,)) must reach it."""
        if cfg.kind_confirm is None or kind is None or kind not in kind_index:
            return True
        return bool(kind_det[kind_index[kind]] >= cfg.kind_confirm)


def setting_value(name: str, text: str):
    """A GroundingConfig setting's value from text (the scripts' --grid and --set): "none" is None, a
    true/false setting is true for 1/true/yes, a number its setting's type, and a setting that is None
    by default a float. KeyError for a name GroundingConfig does not have."""
    default = vars(GroundingConfig())[name]
    if text.lower() == "none":
        return None
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    return float(text) if default is None else type(default)(float(text))


def required_word(kind: str) -> str:
    """The word a COCO kind is required by: its first one-word name, else its name's first word
    ("stop" for stop sign)."""
    names = kind_names().get(kind)
    return names[0] if names else kind.split()[0]


def candidate_words() -> list[str]:
    """Every word grounding may require: the ImageNet table's and each COCO kind's required word."""
    return sorted(set(load_imagenet_table()[0]) | {required_word(kind) for kind in kind_names()})


@lru_cache(maxsize=4096)
def synonyms(word: str) -> frozenset[str]:
    """The word, its plural, and the other one-word names of its COCO object kind with their plurals."""
    table = load_object_table()
    kind = table.get((word,))
    names = {k[0] for k, v in table.items() if v == kind and len(k) == 1} if kind else set()
    return frozenset(plural_forms(word) | names)


def familiar_words(vocab: Vocabulary, trained_size: int, count: int) -> set[str]:
    """The decoder's `count` most frequent training words (a vocabulary is built most frequent first)."""
    first = len(SPECIALS)  # the words after <pad>, <start>, <end>, <unk>
    return set(vocab.words[first : min(trained_size, first + count)])


def constraints_for(concepts: ImageConcepts, vocab: Vocabulary, trained_size: int,
                    config: GroundingConfig | None = None) -> Constraints:
    """Token-id constraints: required words (any synonym or plural counts) and banned ids.

    Open-vocabulary words (ids >= trained_size) are banned unless a required word asks for them;
    a required word the vocabulary cannot say is dropped.
    """
    required = []
    grams = [phrase.split() for phrase in concepts.blocked_phrases + concepts.blocked_names]
    banned_ngrams = tuple(tuple(vocab.index[w] for w in g) for g in grams if len(g) > 1 and all(w in vocab.index for w in g))
    for word in concepts.required:
        ids = frozenset(vocab.index[w] for w in synonyms(word) if w in vocab.index)
        if ids:
            required.append(ids)
    allowed = set().union(*required) if required else set()
    banned = {vocab.index[w] for w in concepts.blocked_words + [g[0] for g in grams if len(g) == 1] if w in vocab.index}
    banned |= set(range(trained_size, len(vocab))) - allowed
    alpha = (config or GroundingConfig()).unfamiliar_length_penalty if concepts.unfamiliar else None
    return Constraints(tuple(required), frozenset(banned - allowed), alpha, banned_ngrams)


SOURCE_NAMES = ("flickr8k", "everyday")  # the caption sources by id, as decoder_sources assigns them


def decoder_sources(concepts: list[ImageConcepts], config: GroundingConfig | None = None) -> list[int]:
    """Per photo: its caption source, which picks a model's decoder for it (ModelBundle.source_decoders)
    and a source-trained decoder's shift (DecoderConfig.sources): 1 (everyday photos) for an
    unfamiliar photo the everyday classifier gives at least `everyday_source_from`, else 0 (Flickr8k's)."""
    start = (config or GroundingConfig()).everyday_source_from
    return [int(c.unfamiliar and c.everyday >= start) for c in concepts]


def search_inputs(concepts: list[ImageConcepts], vocab: Vocabulary, trained_size: int, config: GroundingConfig
                  ) -> tuple[list[Constraints], list[float], list[int]]:
    """What grounded search takes per photo: its constraints, its language-model fusion weight and
    its caption source (the decoder, and a source-trained decoder's shift)."""
    return ([constraints_for(c, vocab, trained_size, config) for c in concepts], lm_weights(concepts, config),
            decoder_sources(concepts, config))


def lm_weights(concepts: list[ImageConcepts], config: GroundingConfig) -> list[float]:
    """Per photo: the language model's fusion weight (unfamiliar photos get `lm_weight`)."""
    return [config.lm_weight if c.unfamiliar and (c.everyday >= config.lm_everyday or c.everyday < config.everyday_threshold)
            else config.lm_weight_familiar for c in concepts]


def load_grounder(encoder, bundle=None, config: GroundingConfig | None = None, detectors_path=None) -> Grounder | None:
    """The grounder for an encoder with an ImageNet head, or one without whose detectors ship
    (None for an encoder with neither: no grounding).

    bundle: the model (ModelBundle) whose familiar words mark photos unlike its training data.
    An encoder with a head requires its shipped detector file; a missing or corrupt one is a one-line error.
    """
    head = encoder.classifier()
    path = detectors_path or shipped_detectors(encoder.name)
    if head is None and not Path(path).is_file():
        return None
    detectors = ConceptDetectors.load(path)
    config = config or GroundingConfig()
    familiar = familiar_words(bundle.vocab, bundle.trained_size, config.familiar_words) if bundle is not None else None
    return Grounder(head, detectors, config, familiar)
