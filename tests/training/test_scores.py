"""Metrics against BLEU values computed by hand on tiny examples."""

import math

import pytest

from captioner.training.scores import coco_scores, nltk_bleu
from tests.conftest import needs

REFS = {"1": ["the cat is on the mat"], "2": ["a dog runs fast"]}


@pytest.mark.parametrize("fast", [True, False])
def test_coco_bleu_matches_hand_computation(fast):
    # image 1: p1 = 5/6, p2 = 3/5, same length (BP = 1): BLEU-2 = sqrt(5/6 * 3/5) = sqrt(1/2)
    scores = coco_scores({"1": REFS["1"]}, {"1": "the cat sat on the mat"}, meteor=False, fast=fast)
    assert scores["BLEU-1"] == pytest.approx(5 / 6, abs=1e-4)
    assert scores["BLEU-2"] == pytest.approx(math.sqrt(0.5), abs=1e-4)
    # image 2: all n-grams match but hypothesis is 3 words vs 4: BP = exp(1 - 4/3)
    scores = coco_scores({"2": REFS["2"]}, {"2": "a dog runs"}, meteor=False, fast=fast)
    assert scores["BLEU-1"] == pytest.approx(math.exp(1 - 4 / 3), abs=1e-4)
    assert scores["BLEU-3"] == pytest.approx(math.exp(1 - 4 / 3), abs=1e-4)


def test_identical_caption_scores_one_on_rouge_and_bleu():
    scores = coco_scores(REFS, {"1": "the cat is on the mat", "2": "a dog runs fast"}, meteor=False, fast=True)
    assert scores["ROUGE-L"] == pytest.approx(1.0)
    assert scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6)


def test_meteor_runs_with_java():
    import shutil

    needs(shutil.which("java") is not None, "Java (for METEOR)")
    good = coco_scores(REFS, {"1": "the cat is on the mat", "2": "a dog runs fast"})["METEOR"]
    bad = coco_scores(REFS, {"1": "green ideas sleep", "2": "furiously tonight"})["METEOR"]
    assert good > 0.9 and bad < 0.1


def test_nltk_corpus_bleu_same_hand_values():
    scores = nltk_bleu({"1": [REFS["1"][0].split()]}, {"1": "the cat sat on the mat".split()})
    assert scores["BLEU-1"] == pytest.approx(5 / 6, abs=1e-6)
    assert scores["BLEU-2"] == pytest.approx(math.sqrt(0.5), abs=1e-6)


MULTI = {"1": ["the cat sat on the mat", "a cat is on the mat"]}


@pytest.mark.parametrize("fast", [True, False])
def test_every_reference_counts(fast):
    # the hypothesis is the second reference word for word: a perfect match
    scores = coco_scores(MULTI, {"1": "a cat is on the mat"}, meteor=False, fast=fast)
    assert scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6) and scores["ROUGE-L"] == pytest.approx(1.0)
    # clipping takes the most a single reference has: "the" twice in the first, so 2 of 6 count
    scores = coco_scores(MULTI, {"1": "the the the the the the"}, meteor=False, fast=fast)
    assert scores["BLEU-1"] == pytest.approx(2 / 6, abs=1e-4)


def test_cider_worked_by_hand():
    # Two images, one reference each. Document frequency over the 2 images: "a" is in both (idf 0),
    # every other n-gram in one (idf log 2). Image 1's hypothesis is its reference: cosine 1 for
    # n = 1, 2, 3 and no 4-grams, so CIDEr-D = 10 * (1 + 1 + 1 + 0) / 4 = 7.5. Image 2's shares only
    # "runs" among weighted unigrams: cosine log2^2 / (sqrt2 log2)^2 = 1/2 and nothing longer, so
    # 10 * 0.5 / 4 = 1.25. The corpus score is the mean: 4.375.
    refs = {"1": ["a cat sits"], "2": ["a dog runs"]}
    scores = coco_scores(refs, {"1": "a cat sits", "2": "a cat runs"}, meteor=False, fast=True)
    assert scores["CIDEr"] == pytest.approx(4.375, abs=1e-6)


def test_nltk_bleu_3_and_4_by_hand():
    # hypothesis "the cat sat on the mat" vs reference "the cat is on the mat" (same length: BP 1):
    # 1-grams 5/6, 2-grams 3/5 (the cat, on the, the mat), 3-grams 1/4 (on the mat), 4-grams 0/3
    scores = nltk_bleu({"1": [REFS["1"][0].split()]}, {"1": "the cat sat on the mat".split()})
    assert scores["BLEU-3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3), abs=1e-6)
    assert scores["BLEU-4"] == pytest.approx(0.0, abs=1e-6)
    perfect = nltk_bleu({"1": ["a b c d e".split()]}, {"1": "a b c d e".split()})
    assert [perfect[f"BLEU-{n}"] for n in range(1, 5)] == pytest.approx([1.0, 1.0, 1.0, 1.0])
    # 4-grams 1/2 and everything else matched: BLEU-4 = (1 * 1 * 1 * 1/2) ** (1/4)
    half = nltk_bleu({"1": ["a b c d e".split()]}, {"1": "a b c d x".split()})
    assert half["BLEU-4"] == pytest.approx((4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25, abs=1e-6)
