from captioner.runtime.data.cleaning import clean_caption


def test_lowercases_and_strips_punctuation_and_digits():
    assert clean_caption("A Dog, running! 2 times.") == ["a", "dog", "running", "times"]


def test_drops_one_letter_tokens_except_a():
    assert clean_caption("a b c man in a T shirt") == ["a", "man", "in", "a", "shirt"]


def test_possessive_and_hyphen():
    assert clean_caption("The dog's red-and-white ball") == ["the", "dog", "red", "and", "white", "ball"]


def test_empty_caption_gives_no_tokens():
    assert clean_caption(" .. 123 !") == []


def test_possessives_and_hyphens():
    assert clean_caption("The dog's ball is red-and-white") == ["the", "dog", "ball", "is", "red", "and", "white"]
    assert clean_caption("A BOY'S T-SHIRT") == ["a", "boy", "shirt"]  # "t" alone is dropped
