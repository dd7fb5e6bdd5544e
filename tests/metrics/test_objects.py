"""Object mentions: the COCO synonym table, longest-phrase matching, hallucination and recall by hand."""

import pytest

from captioner.errors import CaptionerError
from captioner.metrics.objects import load_object_table, object_scores, objects_named, plural_forms


def test_synonyms_plurals_and_phrases():
    assert objects_named("Two men and a puppy near some buses") == {"person", "dog", "bus"}
    assert objects_named("a teddy bear on a bed") == {"teddy bear", "bed"}  # not the animal
    assert objects_named("a brown bear in the grass") == {"bear"}
    assert objects_named("a stop sign by the hot dogs") == {"stop sign", "hot dog"}
    assert objects_named("an orange shirt on a glass table") == {"dining table"}  # colours and windows are not objects
    assert objects_named("") == set()


def test_plural_forms():
    assert plural_forms("bus") >= {"bus", "buses"}
    assert plural_forms("baby") >= {"baby", "babies"}
    assert plural_forms("teddy bear") >= {"teddy bear", "teddy bears"}


def test_every_coco_kind_is_in_the_table():
    kinds = set(load_object_table().values())
    assert len(kinds) == 80 and {"person", "giraffe", "toothbrush", "hair drier"} <= kinds


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


def test_a_broken_table_is_a_one_line_error(tmp_path):
    bad = tmp_path / "objects.tsv"
    bad.write_text("person\n")
    with pytest.raises(CaptionerError, match=r"objects.tsv:1"):
        load_object_table(bad)
    with pytest.raises(CaptionerError, match="cannot be read"):
        load_object_table(tmp_path / "missing.tsv")
