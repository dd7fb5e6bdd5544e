"""The Python API: `captioner.load()` gives a model you call on images of any kind (`CaptionModel`).

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
from dataclasses import fields
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Iterable, Iterator, Union

import numpy as np
from PIL import Image

from captioner.errors import CaptionerError, ImageError
from captioner.runtime.batch.sources import read_source
from captioner.runtime.data.images import image_from_array, image_from_pil, load_image
from captioner.runtime.model.captioner import Captioner
from captioner.runtime.model.result import CaptionResult
from captioner.runtime.options import CaptionOptions
from captioner.settings import BATCH_SIZE

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

    def __call__(self, images: ImageInput | list[ImageInput], *, batch_size: int = BATCH_SIZE,
                 **options) -> CaptionResult | list[CaptionResult]:
        """Caption one image (returns a result) or a list (returns a list, bad inputs with `error`).

        options: the fields of `CaptionOptions`, with the CLI's names: beam_size (1 = greedy),
        max_length, length_penalty, no_repeat_ngram, exhaustive; grounding=False gives the plain
        caption; attention=True adds per-word grids.
        """
        chosen = caption_options(**options)
        if not isinstance(images, (list, tuple)):
            source = images if isinstance(images, (str, os.PathLike)) else None
            image = read_image(images, self.fetch_policy)  # a bad single input raises
            result = self.captioner.caption([image], chosen)[0]
            result.source = None if source is None else str(source)
            return result
        return list(self.stream(images, batch_size=batch_size, options=chosen))

    def stream(self, images: Iterable[ImageInput], *, batch_size: int = BATCH_SIZE, workers: int = 2,
               options: CaptionOptions | None = None, **more) -> Iterator[CaptionResult]:
        """One result per input, in order, as each batch finishes (for folders and long lists).

        Inputs are read and decoded by `workers` threads up to two batches ahead while the model
        captions the current one; a bad input gets a result with `error` and never stops the rest.
        options: a CaptionOptions, or its fields as keywords.
        """
        options = options if options is not None else caption_options(**more)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CaptionerError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
        sources = iter(images)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="captioner-read") as pool:
            ahead: collections.deque = collections.deque()

            def submit_next() -> None:
                chunk = list(itertools.islice(sources, batch_size))
                if chunk:
                    ahead.append([(source, pool.submit(read_image, source, self.fetch_policy)) for source in chunk])

            submit_next()
            submit_next()
            while ahead:
                futures = ahead.popleft()
                submit_next()
                slots: list[CaptionResult | None] = [None] * len(futures)
                loaded, where = [], []
                for k, (_, future) in enumerate(futures):
                    try:
                        loaded.append(future.result())
                        where.append(k)
                    except Exception as exc:  # any reader failure fails only its input
                        slots[k] = CaptionResult.failed(exc)
                for k, result in zip(where, self.captioner.caption_isolated(loaded, options)):
                    slots[k] = CaptionResult.failed(result) if isinstance(result, Exception) else result
                for (source, _), result in zip(futures, slots):
                    result.source = str(source) if isinstance(source, (str, os.PathLike)) else None
                yield from slots


def caption_options(**options) -> CaptionOptions:
    """CaptionOptions from keywords; an unknown name is a one-line error naming the known ones."""
    try:
        return CaptionOptions(**options)
    except TypeError:
        known = ", ".join(f.name for f in fields(CaptionOptions))
        unknown = ", ".join(sorted(set(options) - {f.name for f in fields(CaptionOptions)}))
        raise CaptionerError(f"unknown option(s) {unknown}; the options are {known}") from None
