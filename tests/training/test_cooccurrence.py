"""Counting which words the captions of one photo name together, on coco-dev's real captions."""

import pytest

from captioner.errors import CaptionerError
from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.grounding.grounding import synonyms
from captioner.runtime.grounding.tables import load_cooccurrence
from captioner.training.cooccurrence import count_cooccurrence, format_table, read_image_captions


def test_counts_are_per_photo_and_name_a_word_by_any_of_its_forms(coco_dev, tmp_path):
    captions = read_image_captions(coco_dev / "captions.json")
    assert len(captions) == 169 and all(len(texts) >= 5 for texts in captions.values())
    words = ["bus", "train", "person", "table"]
    images, pairs = count_cooccurrence(captions, words)

    def names(texts, forms):  # counted here the plain way
        return bool({t for text in texts for t in clean_caption(text)} & forms)

    person = synonyms("person")  # the kind's one-word names with their plurals
    assert {"person", "people", "man", "women"} <= person
    expected_bus = sum(names(t, {"bus", "buses"}) for t in captions.values())
    both = sum(names(t, {"bus", "buses"}) and names(t, person) for t in captions.values())
    assert images["bus"] == expected_bus > 0  # "buses" counts as bus, a photo once however many captions say it
    assert pairs["bus"]["person"] == pairs["person"]["bus"] == both > 0
    assert images["person"] == sum(names(t, person) for t in captions.values()) > images["bus"]
    assert all(b != a for a in pairs for b in pairs[a])  # no word pairs with itself
    # the table file round-trips: what the grounder reads is what was counted
    path = tmp_path / "co.tsv"
    path.write_text(format_table(images, pairs, "coco-dev"))
    table = load_cooccurrence(path)
    assert table.images == images and table.both == {w: p for w, p in pairs.items()}
    assert table.given("bus", "person") == pairs["bus"].get("person", 0) / images["bus"]


def test_a_file_without_captions_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(CaptionerError, match=r"bad.json: not a COCO captions JSON"):
        read_image_captions(bad)
    bad.write_text('{"annotations": [{"image_id": 1}]}')
    with pytest.raises(CaptionerError, match=r"bad.json: no captions"):
        read_image_captions(bad)
