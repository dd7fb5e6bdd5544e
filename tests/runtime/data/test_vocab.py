import pytest

from captioner.runtime.data.vocab import BOS, EOS, PAD, UNK, Vocabulary


def test_min_count_and_order():
    vocab = Vocabulary.build([["a", "dog"], ["a", "cat"], ["a", "dog", "runs"]], min_count=2)
    assert vocab.words == [PAD, BOS, EOS, UNK, "a", "dog"]


def test_encode_wraps_and_maps_unknown():
    vocab = Vocabulary.build([["a", "dog"]] * 3, min_count=1)
    ids = vocab.encode(["a", "zebra", "dog"])
    assert ids == [vocab.bos_id, vocab.index["a"], vocab.unk_id, vocab.index["dog"], vocab.eos_id]


def test_decode_stops_at_end_and_skips_start_and_padding():
    vocab = Vocabulary.build([["a", "dog"]], min_count=1)
    ids = [vocab.bos_id, vocab.index["a"], vocab.index["dog"], vocab.eos_id, vocab.index["a"], vocab.pad_id]
    assert vocab.decode(ids) == ["a", "dog"]


def test_specials_must_come_first():
    with pytest.raises(ValueError):
        Vocabulary(["a", PAD, BOS, EOS, UNK])
