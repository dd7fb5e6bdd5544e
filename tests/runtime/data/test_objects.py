"""The COCO object table: synonyms, plurals, longest-phrase matching, and clear errors for a broken table."""

import pytest

from captioner.runtime.data.objects import load_object_table, objects_named, plural_forms
from captioner.errors import CaptionerError


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



def test_a_broken_table_is_a_one_line_error(tmp_path):
    bad = tmp_path / "objects.tsv"
    bad.write_text("person\n")
    with pytest.raises(CaptionerError, match=r"objects.tsv:1"):
        load_object_table(bad)
    with pytest.raises(CaptionerError, match="cannot be read"):
        load_object_table(tmp_path / "missing.tsv")



def test_plurals_are_real_words():
    from captioner.runtime.data.objects import kind_names, plural_forms

    assert plural_forms("bus") == {"bus", "buses"} and plural_forms("bench") == {"bench", "benches"}
    assert plural_forms("pony") == {"pony", "ponies"} and plural_forms("toy") == {"toy", "toys"}
    assert plural_forms("hot dog") == {"hot dog", "hot dogs"}
    names = kind_names()
    assert len(names) == 80 and names["dining table"][0] == "table" and names["stop sign"] == []
    assert all(" " not in w for words in names.values() for w in words)


def test_objects_in_is_every_kind_any_text_names():
    from captioner.runtime.data.objects import objects_in

    texts = ["A man on a horse", "a rider and his horse near a fence", "two dogs watch a teddy bear"]
    assert objects_in(texts) == {"person", "horse", "dog", "teddy bear"}
    assert objects_in(texts[1:2]) == {"person", "horse"}  # "rider" is a person word
    assert objects_in([]) == set() and objects_in(["a view of the sea"]) == set()
