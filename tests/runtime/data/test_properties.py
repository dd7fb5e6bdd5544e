"""Property-based tests (hypothesis) of the data layer: caption cleaning, vocabulary round trips,
and loading generated images of every mode and format."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.images import load_image
from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.errors import ImageError
from captioner.serving.refusals import status_of

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(st.text())
def test_cleaning_gives_lowercase_letter_words(text):
    words = clean_caption(text)
    assert all(w.isascii() and w.isalpha() and w == w.lower() for w in words)
    assert all(len(w) > 1 or w == "a" for w in words)
    assert clean_caption(" ".join(words)) == words  # cleaning clean words changes nothing


@given(st.lists(st.lists(WORDS, max_size=12), min_size=1, max_size=30), st.integers(1, 3))
def test_vocabulary_round_trip(captions, min_count):
    vocab = Vocabulary.build(captions, min_count)
    assert tuple(vocab.words[:4]) == SPECIALS and len(set(vocab.words)) == len(vocab.words)
    for words in captions:
        ids = vocab.encode(words)
        assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
        decoded = vocab.decode(ids)
        assert len(decoded) == len(words)
        assert all(d == w or (d == "<unk>" and w not in vocab.index) for d, w in zip(decoded, words))
    counts = {}
    for words in captions:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    kept = vocab.words[4:]
    assert set(kept) == {w for w, c in counts.items() if c >= min_count}
    assert [(-counts[w], w) for w in kept] == sorted((-counts[w], w) for w in kept)  # most frequent first, ties a-z


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODES), st.integers(1, 64), st.integers(1, 64), st.sampled_from(["PNG", "TIFF", "WEBP", "JPEG", "GIF", "BMP"]),
       st.integers(0, 2**32 - 1))
def test_generated_images_load_as_rgb_or_fail_cleanly(mode, width, height, fmt, seed):
    rng = np.random.default_rng(seed)
    pixels = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    image = pixels.convert("L").convert(mode) if mode in ("I;16", "I", "F") else pixels.convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        return  # this format cannot hold this mode: nothing to load
    data = buffer.getvalue()
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (width, height)
    cut = data[: max(1, len(data) // 2)]
    try:
        half = load_image(cut)
        assert half.mode == "RGB"
    except ImageError as exc:  # a truncated file may also be refused, with a 4xx and one line
        assert 400 <= status_of(exc) < 500 and "\n" not in str(exc)
