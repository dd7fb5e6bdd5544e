"""The Python API: `captioner.load()` gives a model you call on images of any kind.

    import captioner
    model = captioner.load()                      # the shipped default; or a shipped name or a .pt path
    result = model("photo.jpg")                   # a path, URL, bytes, file object, PIL image or array
    print(result.caption, result.concepts)
    results = model(["a.jpg", "https://example.com/b.png"], beam_size=3)   # a list in, a list out

Every input goes through the same loading as the CLI and the web app (any Pillow mode, EXIF
orientation, first frame of an animation, size limits; URLs through the same guard as the web
app). A bad single input raises `captioner.CaptionerError` with a one-line message; in a list, a
bad input gets a result whose `error` says why, and the others are captioned.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import IO, Union

import numpy as np
from PIL import Image

from captioner.concepts.grounding import GroundingConfig
from captioner.data.images import image_from_array, image_from_pil, load_image
from captioner.decoding import SearchConfig
from captioner.errors import CaptionerError, ImageError
from captioner.inference.captioner import Captioner, CaptionResult

ImageInput = Union[str, os.PathLike, bytes, bytearray, IO[bytes], Image.Image, np.ndarray]


def read_image(source: ImageInput, fetch_policy=None) -> Image.Image:
    """Any supported input -> upright 8-bit RGB image, or `ImageError` saying why not."""
    if isinstance(source, Image.Image):
        return image_from_pil(source)
    if isinstance(source, np.ndarray):
        return image_from_array(source)
    if isinstance(source, (bytes, bytearray)):
        return load_image(bytes(source))
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError("file object must be opened in binary mode ('rb')", 400)
        return load_image(bytes(data))
    if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        from captioner.serving.urlfetch import FetchPolicy, fetch_image_bytes

        data, _ = fetch_image_bytes(source, fetch_policy or FetchPolicy())
        return load_image(data)
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    raise ImageError(f"cannot caption a {type(source).__name__}: give a path, URL, bytes, file object, "
                     "PIL image or numpy array", 400)


class CaptionModel:
    """A loaded model; call it on one image or a list of images."""

    def __init__(self, captioner: Captioner, fetch_policy=None):
        self.captioner = captioner
        self.fetch_policy = fetch_policy

    @property
    def metadata(self) -> dict:
        """Encoder, decoder, vocabulary and grounding settings, and the model's test scores."""
        return self.captioner.metadata

    def __call__(self, images: ImageInput | list[ImageInput], *, beam_size: int = SearchConfig.beam_size,
                 max_length: int = SearchConfig.max_length, length_penalty: float = SearchConfig.length_penalty,
                 no_repeat_ngram: int = SearchConfig.no_repeat_ngram, exhaustive: bool = SearchConfig.exhaustive,
                 grounding: bool = True,
                 attention: bool = False, batch_size: int = 16) -> CaptionResult | list[CaptionResult]:
        """Caption one image (returns a result) or a list (returns a list, bad inputs with `error`).

        Options have the CLI's names: beam_size (1 = greedy), max_length, length_penalty,
        no_repeat_ngram, exhaustive; grounding=False gives the plain caption; attention=True adds
        per-word grids.
        """
        if beam_size < 1 or max_length < 1 or batch_size < 1:
            raise CaptionerError("beam_size, max_length and batch_size must be at least 1")
        search = replace(SearchConfig(), beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
                         no_repeat_ngram=no_repeat_ngram, exhaustive=exhaustive)
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        results: list[CaptionResult | None] = [None] * len(sources)
        for start in range(0, len(sources), batch_size):
            loaded, where = [], []
            for k in range(start, min(start + batch_size, len(sources))):
                try:
                    loaded.append(read_image(sources[k], self.fetch_policy))
                    where.append(k)
                except CaptionerError as exc:
                    if single:
                        raise
                    results[k] = CaptionResult(caption="", alternatives=[], error=str(exc))
            if loaded:
                for k, result in zip(where, self.captioner.caption(loaded, search, grounded=grounding, attention=attention)):
                    results[k] = result
        return results[0] if single else results


def load(model: str | os.PathLike | None = None, *, grounding: GroundingConfig | bool = True,
         encoder_weights: str | None = None, backend: str = "auto") -> CaptionModel:
    """Load a model once: a shipped name ("default", "lite2-add", ...), a .pt path, or None for the default.

    grounding: True (the calibrated settings), False (never ground), or a GroundingConfig.
    backend: "auto" runs the encoder in ONNX Runtime where it can, "torch" never does.
    """
    return CaptionModel(Captioner(None if model is None else str(model), encoder_weights, backend, grounding))
