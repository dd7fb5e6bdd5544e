"""Phrase over-use worked out by hand: rates per caption, the references' rates, broken repeats."""

import pytest

from captioner.evaluation.phrases import ngrams, phrase_report, phrase_set, repeats_across, repeats_bigram


def test_phrases_are_counted_once_per_caption():
    tokens = "a dog and a dog".split()
    assert ngrams(tokens, 2) == {("a", "dog"), ("dog", "and"), ("and", "a")}
    assert ("a", "dog", "and") in phrase_set(tokens) and ("a", "dog", "and", "a") not in phrase_set(tokens)
    assert len(phrase_set(["a"], 3)) == 1


def test_a_bigram_said_twice_is_broken_and_a_word_twice_is_not():
    assert repeats_bigram("a dog and a dog".split())
    assert not repeats_bigram("a dog chases a cat".split())  # "a" twice, no bigram twice
    assert not repeats_bigram([]) and not repeats_bigram(["a"])


def test_report_by_hand():
    references = {
        "1": ["A black and white dog.", "a dog on grass"],  # 'black and white' in 1 of 4 references
        "2": ["a red bus", "a bus on the street"],
    }
    captions = {"1": "a black and white dog in the water", "2": "a black and white bus and a black and white car"}
    report = phrase_report(references, captions, top=3, watched=("black and white", "in the water", "zebra"))
    assert report["repeated_bigram"] == pytest.approx(0.5)  # caption 2 says 'a black' twice
    assert report["watched"]["black and white"] == {"ours": 1.0, "references": 0.25}
    assert report["watched"]["in the water"] == {"ours": 0.5, "references": 0.0}
    assert report["watched"]["zebra"] == {"ours": 0.0, "references": 0.0}
    assert report["overused"] == []  # nothing said by MIN_CAPTIONS (3) of our 2 captions


def test_overused_phrases_rank_by_excess_over_the_references():
    references = {str(i): ["a man rides a horse", "a person on a horse"] for i in range(4)}
    captions = {"0": "a man in the water", "1": "a horse in the water", "2": "a man in the water", "3": "a horse"}
    overused = phrase_report(references, captions, top=20)["overused"]
    phrases = [o["phrase"] for o in overused]
    # 'in', 'the', 'water', 'in the', 'the water', 'in the water' are each in 3 of 4 captions and no reference
    assert set(phrases[:6]) == {"in", "the", "water", "in the", "the water", "in the water"}
    assert overused[0] == {"phrase": phrases[0], "ours": 0.75, "references": 0.0}
    assert "a" in phrases and "man" not in phrases  # 'man': 2 captions, under MIN_CAPTIONS
    a = next(o for o in overused if o["phrase"] == "a")
    assert a == {"phrase": "a", "ours": 1.0, "references": 1.0}  # listed, last: no excess
    assert phrases[-1] == "a"


def test_a_word_on_both_sides_of_a_joiner_is_a_broken_caption():
    assert repeats_across("a white and white dog".split()) and repeats_across("tea or tea".split())
    assert not repeats_across("a black and white dog".split())
    assert not repeats_across("side by side".split())  # only "and" and "or" join
    assert not repeats_across(["and"]) and not repeats_across([])
    report = phrase_report({"a": ["a dog"], "b": ["a cat"]}, {"a": "a white and white dog", "b": "a cat"})
    assert report["repeated_across"] == pytest.approx(0.5)
