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

import collections
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import IO, Iterable, Iterator, Union

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
            raise ImageError("file object must be opened in binary mode ('rb')", "invalid")
        return load_image(bytes(data))
    if isinstance(source, str) and "://" in source:  # http(s) through the web app's guard; s3:// etc. via pyarrow
        from captioner.inference.sources import read_source

        return load_image(read_source(source, fetch_policy))
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    raise ImageError(f"cannot caption a {type(source).__name__}: give a path, URL, bytes, file object, "
                     "PIL image or numpy array", "invalid")


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
                 attention: bool = False, batch_size: int = 8) -> CaptionResult | list[CaptionResult]:
        """Caption one image (returns a result) or a list (returns a list, bad inputs with `error`).

        Options have the CLI's names: beam_size (1 = greedy), max_length, length_penalty,
        no_repeat_ngram, exhaustive; grounding=False gives the plain caption; attention=True adds
        per-word grids.
        """
        options = dict(beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
                       no_repeat_ngram=no_repeat_ngram, exhaustive=exhaustive, grounding=grounding, attention=attention,
                       batch_size=batch_size)
        if not isinstance(images, (list, tuple)):
            search = _search_config(options)
            image = read_image(images, self.fetch_policy)  # a bad single input raises
            return self.captioner.caption([image], search, grounded=grounding, attention=attention)[0]
        return list(self.stream(images, **options))

    def stream(self, images: Iterable[ImageInput], *, beam_size: int = SearchConfig.beam_size,
               max_length: int = SearchConfig.max_length, length_penalty: float = SearchConfig.length_penalty,
               no_repeat_ngram: int = SearchConfig.no_repeat_ngram, exhaustive: bool = SearchConfig.exhaustive,
               grounding: bool = True, attention: bool = False, batch_size: int = 8,
               workers: int = 2) -> Iterator[CaptionResult]:
        """One result per input, in order, as each batch finishes (for folders and long lists).

        Inputs are read and decoded by `workers` threads up to two batches ahead while the model
        captions the current one; a bad input gets a result with `error` and never stops the rest.
        """
        search = _search_config(dict(beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
                                     no_repeat_ngram=no_repeat_ngram, exhaustive=exhaustive, batch_size=batch_size))
        sources = iter(images)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="captioner-read") as pool:
            ahead: collections.deque = collections.deque()

            def submit_next() -> None:
                chunk = list(itertools.islice(sources, batch_size))
                if chunk:
                    ahead.append([pool.submit(read_image, source, self.fetch_policy) for source in chunk])

            submit_next()
            submit_next()
            while ahead:
                futures = ahead.popleft()
                submit_next()
                slots: list[CaptionResult | None] = [None] * len(futures)
                loaded, where = [], []
                for k, future in enumerate(futures):
                    try:
                        loaded.append(future.result())
                        where.append(k)
                    except CaptionerError as exc:
                        slots[k] = _failed(str(exc))
                    except Exception as exc:  # an unexpected reader failure still fails only its input
                        slots[k] = _failed(f"{type(exc).__name__}: {exc}")
                for k, result in zip(where, self.captioner.caption_isolated(loaded, search, grounding, attention)):
                    slots[k] = _failed(f"{type(result).__name__}: {result}") if isinstance(result, Exception) else result
                yield from slots


def _failed(why: str) -> CaptionResult:
    return CaptionResult(caption="", alternatives=[], error=why)


def _search_config(options: dict) -> SearchConfig:
    if options["beam_size"] < 1 or options["max_length"] < 1 or options["batch_size"] < 1:
        raise CaptionerError("beam_size, max_length and batch_size must be at least 1")
    return replace(SearchConfig(), **{k: options[k] for k in ("beam_size", "max_length", "length_penalty",
                                                              "no_repeat_ngram", "exhaustive")})


def load(model: str | os.PathLike | None = None, *, grounding: GroundingConfig | bool = True,
         encoder_weights: str | None = None, backend: str = "auto", device: str = "auto") -> CaptionModel:
    """Load a model once: a shipped name ("default", "lite2-add", ...), a .pt path, or None for the default.

    grounding: True (the calibrated settings), False (never ground), or a GroundingConfig.
    backend: "auto" runs the model in ONNX Runtime (its export), "torch" in PyTorch.
    device: "auto" (a CUDA GPU when ONNX Runtime has one, else the CPU), "cpu" or "cuda".
    """
    return CaptionModel(Captioner(None if model is None else str(model), encoder_weights, backend, grounding, device))
