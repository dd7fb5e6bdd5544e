"""Metrics against BLEU values computed by hand on tiny examples."""

import math

import pytest

from captioner.scores import coco_scores, nltk_bleu

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

    if not shutil.which("java"):
        pytest.skip("METEOR needs Java")
    good = coco_scores(REFS, {"1": "the cat is on the mat", "2": "a dog runs fast"})["METEOR"]
    bad = coco_scores(REFS, {"1": "green ideas sleep", "2": "furiously tonight"})["METEOR"]
    assert good > 0.9 and bad < 0.1


def test_nltk_corpus_bleu_same_hand_values():
    scores = nltk_bleu({"1": [REFS["1"][0].split()]}, {"1": "the cat sat on the mat".split()})
    assert scores["BLEU-1"] == pytest.approx(5 / 6, abs=1e-6)
    assert scores["BLEU-2"] == pytest.approx(math.sqrt(0.5), abs=1e-6)
