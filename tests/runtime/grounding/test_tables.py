"""The shipped concept tables load, and broken ones give a one-line error naming the file."""

import numpy as np
import pytest

from captioner.runtime.grounding.tables import load_concept_words, load_imagenet_table
from captioner.errors import CaptionerError


def test_imagenet_table_maps_classes_to_everyday_words():
    words, matrix = load_imagenet_table()
    assert matrix.shape == (1000, len(words))
    column = {w: j for j, w in enumerate(words)}
    assert matrix[151:269, column["dog"]].min() == 1.0  # every dog breed is a dog
    assert matrix[294, column["bear"]] == 1.0 and matrix[874, column["bus"]] == 1.0 and matrix[963, column["pizza"]] == 1.0
    assert matrix[919, column["sign"]] == 1.0 and matrix[919, column["street"]] == 0.5  # second word at half weight
    assert matrix[0:1000].max() <= 1.0 and (matrix.sum(axis=1) == 0).sum() > 300  # many classes stay unmapped


def test_detector_concepts():
    concepts = load_concept_words()
    assert {"person", "dog"} <= set(concepts)
    assert "man" in concepts["person"].words and "shirt" in concepts["person"].implied
    assert concepts["dog"].imagenet_word == "dog" and concepts["person"].imagenet_word is None


@pytest.mark.parametrize("content, message", [
    ("", "has no entries"),
    ("1000\tdog\tx\n", "class index must be 0-999"),
    ("12 dog\n", r"words.tsv:1: expected 2 tab-separated fields"),
])
def test_broken_imagenet_table(tmp_path, content, message):
    path = tmp_path / "words.tsv"
    path.write_text(content)
    with pytest.raises(CaptionerError, match=message):
        load_imagenet_table(path)


def test_missing_and_undecodable_tables(tmp_path):
    with pytest.raises(CaptionerError, match=r"missing.tsv cannot be read"):
        load_imagenet_table(tmp_path / "missing.tsv")
    junk = tmp_path / "junk.tsv"
    junk.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(CaptionerError, match="junk.tsv cannot be read"):
        load_concept_words(junk)
    assert np.isfinite(load_imagenet_table()[1]).all()


def test_shipped_cooccurrence_says_which_words_coco_names_together():
    """P(second named | first named) from coco-text's photos: kitchens pair a stove with a microwave,
    a bus rarely comes with a train, skis never with a surfboard; unknown words give 0."""
    from captioner.runtime.grounding.tables import load_cooccurrence

    table = load_cooccurrence()
    assert table.given("microwave", "stove") > 0.5 > 0.2 > table.given("bus", "train") > table.given("skis", "surfboard")
    assert table.given("bus", "train") == table.both["bus"]["train"] / table.images["bus"]
    assert table.both["bus"]["train"] == table.both["train"]["bus"]  # photos naming both, counted once
    assert table.given("nonword", "bus") == 0.0 and table.given("bus", "nonword") == 0.0


@pytest.mark.parametrize("content, message", [
    ("", "has no entries"),
    ("bus\tmany\ttrain:3\n", r"co.tsv:1: expected photos and other:count pairs"),
    ("bus\t10\ttrain:x\n", r"co.tsv:1: expected photos and other:count pairs"),
    ("bus\t10\ttrain:11\n", r"co.tsv:1: counts must be between 0 and the word's photos"),
    ("bus\t10\n", r"co.tsv:1: expected 3 tab-separated fields"),
])
def test_broken_cooccurrence_table(tmp_path, content, message):
    from captioner.runtime.grounding.tables import load_cooccurrence

    path = tmp_path / "co.tsv"
    path.write_text(content)
    with pytest.raises(CaptionerError, match=message):
        load_cooccurrence(path)


def test_the_cooccurrence_table_knows_every_word_grounding_may_require(shipped_captioner):
    """The table is counted over grounding's own candidate words (stop sign is required as "stop"),
    so no required word goes without its counts."""
    from captioner.runtime.grounding.grounding import candidate_words

    table = shipped_captioner.grounder.cooccurrence
    assert set(table.images) == set(candidate_words())
    assert set(shipped_captioner.grounder.kind_word) <= set(table.images) and "stop" in table.images
    assert table.given("sign", "stop") > 0.2  # a stop sign is a sign: the pair stays required
