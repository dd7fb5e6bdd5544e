"""The captioning service behind the web app: one Captioner, a result cache, a bounded queue.

Inference runs in a worker thread (one at a time, since torch already uses every core) so the
event loop keeps answering; image decoding for previews runs in worker threads too. At most
`max_queue` requests wait for the model: one more is told the server is busy (503). A request
whose client has gone by the time its turn comes is dropped, not computed. Identical images are
answered from a small LRU cache keyed by the SHA-256 of their bytes and the options.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import anyio
from fastapi import UploadFile

from captioner.data.images import MAX_IMAGE_PIXELS, load_image
from captioner.decoding import SearchConfig
from captioner.errors import ImageError, RequestRefused
from captioner.inference.captioner import Captioner
from captioner.serving.urlfetch import FetchError, FetchPolicy, fetch_image_bytes

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class ServeSettings:
    """Every resource bound of the web service (also `captioner serve` flags; see the README)."""

    max_upload_bytes: int = MAX_UPLOAD_BYTES  # the whole request body, checked as it arrives
    max_pixels: int = MAX_IMAGE_PIXELS  # larger images are refused before decoding (413)
    cache_entries: int = 256
    max_queue: int = 64  # requests waiting for the model; one more gets 503
    body_timeout: float = 30.0  # seconds to receive a request body
    header_timeout: float = 10.0  # seconds from connecting to a complete request head (slowloris)
    keep_alive: float = 5.0  # idle seconds a kept-alive connection stays open
    max_connections: int = 200  # concurrent connections and requests; more get 503
    max_fetches: int = 8  # image URLs fetched at once (each in a worker thread, at most fetch.total_timeout)
    fetch: FetchPolicy = field(default_factory=FetchPolicy)


class ClientGone(RequestRefused):
    """The client left before its turn: nobody reads the answer, so it is not computed."""

    def __init__(self):
        super().__init__("the client closed the request", 499)


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
        self.fetch_limiter = anyio.CapacityLimiter(settings.max_fetches)  # slow URLs never take every thread
        self.picture_limiter = anyio.CapacityLimiter(2)  # the page's previews and heat maps
        self.waiting = 0  # requests queued for (or holding) the model
        self.stats = {"computed": 0, "cached": 0, "dropped": 0, "busy": 0}

    def _run_model(self, data: bytes, search: SearchConfig, grounding: bool) -> dict:
        started = time.perf_counter()
        image = load_image(data, self.settings.max_pixels)
        decoded = time.perf_counter()
        [result] = self.captioner.caption([image], search, grounded=grounding, attention=True)
        record = {k: v for k, v in result.to_dict().items() if k != "error"}  # the Python API's result
        timings = {"decode_image": round(1000 * (decoded - started), 1), **result.timings_ms}
        return {**record, "model": self.captioner.model_path.stem, "encoder": self.captioner.encoder.name,
                "image": {"width": image.width, "height": image.height, "bytes": len(data)}, "timings_ms": timings}

    async def caption(self, data: bytes, beam_size: int, max_length: int, grounding: bool = True,
                      disconnected: Callable[[], Awaitable[bool]] | None = None) -> dict:
        """The API's answer for these image bytes and options (from the cache when seen before).

        disconnected: tells whether the client has gone (checked when the request's turn comes).
        """
        started = time.perf_counter()
        key = f"{hashlib.sha256(data).hexdigest()}:{beam_size}:{max_length}:{int(grounding)}"
        answer = self.cache.get(key)
        cached = answer is not None
        if answer is None:
            if self.waiting >= self.settings.max_queue:
                self.stats["busy"] += 1
                raise RequestRefused(f"the server is busy ({self.waiting} requests waiting): try again shortly", 503)
            self.waiting += 1
            try:
                async with self.limiter:
                    if disconnected is not None and await disconnected():
                        self.stats["dropped"] += 1
                        raise ClientGone()
                    search = SearchConfig(beam_size=beam_size, max_length=max_length)
                    answer = await anyio.to_thread.run_sync(self._run_model, data, search, grounding)
            finally:
                self.waiting -= 1
            self.stats["computed"] += 1
            self.cache.put(key, answer)
        else:
            self.stats["cached"] += 1
        total = round(1000 * (time.perf_counter() - started), 1)
        return {**answer, "cached": cached, "timings_ms": {**answer["timings_ms"], "total": total}}

    async def read_upload(self, file: UploadFile) -> bytes:
        limit = self.settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"upload is larger than {limit:,} bytes", 413)
        return data

    async def fetch(self, url: str) -> bytes:
        data, content_type = await anyio.to_thread.run_sync(fetch_image_bytes, url, self.settings.fetch,
                                                               limiter=self.fetch_limiter)
        if not content_type.startswith("image/"):
            try:
                await anyio.to_thread.run_sync(load_image, data, self.settings.max_pixels)  # decoding never runs on the event loop
            except ImageError:
                raise FetchError(f"the URL did not return an image (content type {content_type or 'none'!r})", 415) from None
        return data
