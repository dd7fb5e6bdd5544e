"""Colourfulness on real photos: a grayscale photo measures 0, a colour photo far more, and grounding
keeps "black and white" off a colourful everyday photo."""

from dataclasses import replace

import numpy as np
from PIL import Image

from captioner.runtime.data.images import load_image
from captioner.runtime.grounding.colour import colourfulness

BEAR, STOP_SIGN, GRAY_PLATE = "000000000285.jpg", "000000000724.jpg", "000000001425.jpg"


def test_grayscale_measures_zero_and_colour_photos_do_not(coco_dev):
    sign = load_image(coco_dev / "images" / STOP_SIGN)
    assert colourfulness(sign) > 20
    assert colourfulness(sign.convert("L").convert("RGB")) < 0.5  # the same photo without its colour
    assert colourfulness(load_image(coco_dev / "images" / GRAY_PLATE)) < 0.5  # coco-dev's own grayscale photo
    sepia = Image.merge("RGB", [sign.convert("L").point(lambda v, k=k: min(255, int(v * k))) for k in (1.07, 0.95, 0.82)])
    assert 0.5 < colourfulness(sepia) < colourfulness(sign)
    red = Image.new("RGB", (50, 50), (200, 30, 30))
    assert colourfulness(red) > colourfulness(sign)  # one strong hue: the mean term


def test_grounding_blocks_black_and_white_on_colourful_unfamiliar_photos(shipped_captioner, coco_dev):
    grounder = shipped_captioner.grounder
    config = replace(grounder.config, colourful=5.0, phrase_miss_rate=0.0)  # only the colour rule blocks phrases
    images = [load_image(coco_dev / "images" / name) for name in (BEAR, GRAY_PLATE)]
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(i) for i in images]))
    colour = [colourfulness(i) for i in images]
    bear, plate = grounder.ground(pooled, config, colour=colour)
    assert bear.unfamiliar and plate.unfamiliar
    assert "black and white" in bear.blocked_phrases and "colourful" in bear.reasons["black and white"]
    assert "black and white" not in plate.blocked_phrases  # a grayscale photo may be called so
    unknown = grounder.ground(pooled, config)  # no colour measured: nothing is gated
    assert all("black and white" not in c.blocked_phrases for c in unknown)
    never = grounder.ground(pooled, replace(config, colourful=None), colour=colour)
    assert all("black and white" not in c.blocked_phrases for c in never)
    # the search gets it as a banned phrase
    from captioner.runtime.grounding.grounding import constraints_for
    vocab = shipped_captioner.bundle.vocab
    constraints = constraints_for(bear, vocab, shipped_captioner.bundle.trained_size, config)
    assert tuple(vocab.index[w] for w in ("black", "and", "white")) in constraints.banned_ngrams


def test_the_shipped_model_no_longer_calls_a_colour_photo_black_and_white(shipped_captioner, coco_dev):
    """A bowl of rice and broccoli (colourfulness 53) was "a black and white image of food with meat on
    it"; the captioner measures each photo's colour and the search may not say the phrase."""
    from captioner.runtime.options import CaptionOptions

    image = load_image(coco_dev / "images" / "000000003501.jpg")
    [result] = shipped_captioner.caption([image], CaptionOptions())
    assert "black and white" not in result.caption
    assert "colourful" in result.concepts["blocked_phrases"]["black and white"]
    [gray] = shipped_captioner.caption([load_image(coco_dev / "images" / GRAY_PLATE)], CaptionOptions())
    assert "black and white" not in gray.concepts["blocked_phrases"]  # a grayscale photo may be called so
