"""Caption scores with the coco-caption definitions (pycocoevalcap), all on a 0-1 scale; shared by
training (validation BLEU-4) and the evaluation report (captioner.evaluation).

Captions are tokenised by coco-caption's PTB tokenizer (Java) when Java is present, else by a
Python equivalent (lowercase, punctuation removed). METEOR needs Java and is None without it.
"""

from __future__ import annotations

import logging
import re
import shutil

from nltk.translate.bleu_score import corpus_bleu
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

log = logging.getLogger(__name__)

_PUNCT = re.compile(r"[^\w\s]|_")


def _simple_tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: [" ".join(_PUNCT.sub(" ", c.lower()).split()) for c in v] for k, v in captions.items()}


def _tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    if shutil.which("java"):
        return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    log.warning("java not found: using the Python tokenizer instead of coco-caption's PTB tokenizer")
    return _simple_tokenize(captions)


def coco_scores(
    references: dict[str, list[str]], hypotheses: dict[str, str], meteor: bool = True, fast: bool = False
) -> dict[str, float | None]:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr (0-1) of one hypothesis per image against its references.

    fast=True skips the Java tokenizer (for per-epoch validation); reported figures use fast=False.
    """
    keys = sorted(hypotheses)
    tokenize = _simple_tokenize if fast else _tokenize
    refs = tokenize({k: references[k] for k in keys})
    hyps = tokenize({k: [hypotheses[k]] for k in keys})
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    scores: dict[str, float | None] = {f"BLEU-{n + 1}": float(bleu[n]) for n in range(4)}
    scores["METEOR"] = None
    if meteor and shutil.which("java"):
        scores["METEOR"] = float(Meteor().compute_score(refs, hyps)[0])
    scores["ROUGE-L"] = float(Rouge().compute_score(refs, hyps)[0])
    scores["CIDEr"] = float(Cider().compute_score(refs, hyps)[0])
    return scores


def nltk_bleu(references: dict[str, list[list[str]]], hypotheses: dict[str, list[str]]) -> dict[str, float]:
    """nltk corpus_bleu with cumulative weights, as the Keras tutorials report it (0-1)."""
    keys = sorted(hypotheses)
    refs = [references[k] for k in keys]
    hyps = [hypotheses[k] for k in keys]
    weights = [(1.0, 0, 0, 0), (0.5, 0.5, 0, 0), (1 / 3, 1 / 3, 1 / 3, 0), (0.25, 0.25, 0.25, 0.25)]
    return {f"BLEU-{n + 1}": float(corpus_bleu(refs, hyps, weights=w)) for n, w in enumerate(weights)}
