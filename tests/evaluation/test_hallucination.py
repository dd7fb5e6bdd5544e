"""Hallucination and object recall worked out by hand on multi-reference examples."""

import pytest

from captioner.evaluation.hallucination import object_scores


def test_hallucination_and_recall_by_hand():
    references = {
        "a": ["a dog on a couch", "a puppy sleeping on a sofa"],  # dog, couch
        "b": ["a pizza on a plate", "a cheese pizza"],  # pizza
        "c": ["a view of the sea", "waves at dusk"],  # no object
    }
    captions = {
        "a": "a man and a dog on a couch",  # dog, couch right; person wrong
        "b": "a pizza",  # right
        "c": "a boat on the water",  # boat wrong
    }
    scores = object_scores(references, captions)
    assert scores["hallucinated_captions"] == pytest.approx(2 / 3)
    assert scores["hallucinated_mentions"] == pytest.approx(2 / 5)  # person, boat out of 5 mentions
    assert scores["object_recall"] == pytest.approx(1.0)  # both images with objects got one right
    assert scores["images_with_objects"] == 2
    scores = object_scores(references, {"a": "a cat on a bed", "b": "a pizza", "c": "the sea"})
    assert scores["object_recall"] == pytest.approx(0.5)


def test_a_single_mention_and_a_single_image_count_fully():
    scores = object_scores({"a": ["a dog on the grass"]}, {"a": "a cat on the grass"})
    assert scores["hallucinated_mentions"] == pytest.approx(1.0)  # 1 of 1 mention is wrong
    assert scores["hallucinated_captions"] == pytest.approx(1.0)
    assert scores["object_recall"] == pytest.approx(0.0) and scores["images_with_objects"] == 1
    scores = object_scores({"a": ["a dog on the grass", "a puppy"]}, {"a": "a puppy"})
    assert scores["hallucinated_mentions"] == 0.0 and scores["object_recall"] == pytest.approx(1.0)
