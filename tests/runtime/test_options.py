"""The one options object: its defaults are the search engine's, its validator says what is wrong."""

import math

import pytest

from captioner.errors import InputError
from captioner.runtime.options import OPTION_NAMES, CaptionOptions
from captioner.runtime.search import SearchConfig


def test_defaults_come_from_the_search_engine_and_map_back_to_it():
    options = CaptionOptions()
    engine = SearchConfig()
    assert (options.beam_size, options.max_length, options.length_penalty, options.no_repeat_ngram, options.exhaustive) == \
        (engine.beam_size, engine.max_length, engine.length_penalty, engine.no_repeat_ngram, engine.exhaustive)
    assert options.grounding is True and options.attention is False
    chosen = CaptionOptions(beam_size=3, max_length=7, length_penalty=0.5, no_repeat_ngram=0, exhaustive=True)
    assert chosen.search == SearchConfig(beam_size=3, max_length=7, length_penalty=0.5, no_repeat_ngram=0, exhaustive=True)
    assert chosen.search.min_length == engine.min_length and chosen.search.block_repeated_word == engine.block_repeated_word


def test_equal_options_are_one_key_and_every_option_tells_them_apart():
    base = CaptionOptions()
    variants = [CaptionOptions(**{name: value}) for name, value in
                [("beam_size", 2), ("max_length", 9), ("length_penalty", 0.7), ("no_repeat_ngram", 3),
                 ("exhaustive", True), ("grounding", False), ("attention", True)]]
    keys = [base] + variants
    assert len(set(keys)) == len(keys) == len(OPTION_NAMES) + 1
    assert CaptionOptions(beam_size=2) == CaptionOptions(beam_size=2)
    assert hash(CaptionOptions(beam_size=2)) == hash(CaptionOptions(beam_size=2))


@pytest.mark.parametrize("bad, message", [
    ({"beam_size": 0}, "beam_size must be a whole number of at least 1, not 0"),
    ({"max_length": -1}, "max_length must be a whole number of at least 1, not -1"),
    ({"beam_size": 2.5}, "beam_size must be a whole number of at least 1, not 2.5"),
    ({"beam_size": True}, "beam_size must be a whole number of at least 1, not True"),
    ({"no_repeat_ngram": -1}, "no_repeat_ngram must be a whole number of at least 0, not -1"),
    ({"no_repeat_ngram": False}, "no_repeat_ngram must be a whole number of at least 0, not False"),
    ({"length_penalty": math.inf}, "length_penalty must be a finite number, not inf"),
    ({"length_penalty": "1"}, "length_penalty must be a finite number, not '1'"),
    ({"length_penalty": True}, "length_penalty must be a finite number, not True"),
    ({"grounding": "yes"}, "grounding must be true or false, not 'yes'"),
    ({"exhaustive": 1}, "exhaustive must be true or false, not 1"),
    ({"attention": None}, "attention must be true or false, not None"),
])
def test_a_bad_option_is_one_line_saying_which_and_why(bad, message):
    with pytest.raises(InputError) as info:
        CaptionOptions(**bad)
    assert str(info.value) == message and info.value.reason == "invalid"


def test_the_edges_are_allowed_and_problems_are_all_told_at_once():
    assert CaptionOptions(beam_size=1, max_length=1, no_repeat_ngram=0, length_penalty=0).beam_size == 1
    assert CaptionOptions(length_penalty=2).length_penalty == 2
    with pytest.raises(InputError) as info:
        CaptionOptions(beam_size=0, max_length=0)
    assert str(info.value) == ("beam_size must be a whole number of at least 1, not 0; "
                               "max_length must be a whole number of at least 1, not 0")
