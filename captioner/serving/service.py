"""The captioning service behind the web app: one Captioner, a result cache, a one-at-a-time limiter.

Inference runs in a worker thread (one at a time, since torch already uses every core) so the
event loop keeps answering; identical images are answered from a small LRU cache keyed by the
SHA-256 of their bytes and the options.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import anyio
from fastapi import UploadFile

from captioner.data.images import load_image
from captioner.decoding import SearchConfig
from captioner.errors import ImageError
from captioner.inference.captioner import Captioner
from captioner.serving.urlfetch import FetchError, FetchPolicy, fetch_image_bytes

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class ServeSettings:
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    cache_entries: int = 256
    fetch: FetchPolicy = field(default_factory=FetchPolicy)


class ResultCache:
    """A tiny LRU of finished answers keyed by image hash and options."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key: str):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: str, value) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class CaptionService:
    def __init__(self, captioner: Captioner, settings: ServeSettings):
        self.captioner, self.settings = captioner, settings
        self.cache = ResultCache(settings.cache_entries)
        self.limiter = anyio.CapacityLimiter(1)

    def _run_model(self, data: bytes, search: SearchConfig, grounding: bool) -> dict:
        started = time.perf_counter()
        image = load_image(data)
        decoded = time.perf_counter()
        [result] = self.captioner.caption([image], search, grounded=grounding, attention=True)
        record = {k: v for k, v in result.to_dict().items() if k != "error"}  # the Python API's result
        timings = {"decode_image": round(1000 * (decoded - started), 1), **result.timings_ms}
        return {**record, "model": self.captioner.model_path.stem, "encoder": self.captioner.encoder.name,
                "image": {"width": image.width, "height": image.height, "bytes": len(data)}, "timings_ms": timings}

    async def caption(self, data: bytes, beam_size: int, max_length: int, grounding: bool = True) -> dict:
        """The API's answer for these image bytes and options (from the cache when seen before)."""
        started = time.perf_counter()
        key = f"{hashlib.sha256(data).hexdigest()}:{beam_size}:{max_length}:{int(grounding)}"
        answer = self.cache.get(key)
        cached = answer is not None
        if answer is None:
            search = SearchConfig(beam_size=beam_size, max_length=max_length)
            answer = await anyio.to_thread.run_sync(self._run_model, data, search, grounding, limiter=self.limiter)
            self.cache.put(key, answer)
        total = round(1000 * (time.perf_counter() - started), 1)
        return {**answer, "cached": cached, "timings_ms": {**answer["timings_ms"], "total": total}}

    async def read_upload(self, file: UploadFile) -> bytes:
        limit = self.settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"upload is larger than {limit:,} bytes", 413)
        return data

    async def fetch(self, url: str) -> bytes:
        data, content_type = await anyio.to_thread.run_sync(fetch_image_bytes, url, self.settings.fetch)
        if not content_type.startswith("image/"):
            try:
                load_image(data)
            except ImageError:
                raise FetchError(f"the URL did not return an image (content type {content_type or 'none'!r})", 415) from None
        return data
