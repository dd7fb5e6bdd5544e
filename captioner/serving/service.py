"""The captioning service behind the web app: one Captioner, a result cache, a micro-batching queue.

Requests are decoded in worker threads, then queued for the model. One model worker takes the
requests waiting with the same options (up to `max_batch`, after waiting `batch_wait_ms` for more)
and captions them as one batch through encoder and decoder, in a worker thread, so the event loop
keeps answering; under load, requests that arrive while a batch runs form the next one. At most
`max_queue` requests wait: one more is told the server is busy (503 with Retry-After). A request
whose client has gone by the time its batch forms is dropped, not computed; an image that fails in
a batch fails alone. Identical images are answered from a small LRU cache keyed by the SHA-256 of
their bytes and the options.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

import anyio
from fastapi import UploadFile
from PIL import Image

from captioner.runtime.data.fetch import FetchError, fetch_image_bytes
from captioner.runtime.data.images import load_image
from captioner.errors import ImageError
from captioner.runtime.model.captioner import Captioner
from captioner.runtime.model.result import CaptionResult
from captioner.runtime.options import CaptionOptions
from captioner.serving.refusals import ClientGone, RequestRefused
from captioner.serving.settings import ServeSettings

log = logging.getLogger(__name__)


@dataclass
class _Job:
    image: Image.Image
    options: CaptionOptions
    disconnected: Callable[[], Awaitable[bool]] | None
    future: asyncio.Future


class MicroBatcher:
    """Gathers queued jobs into batches of the same options and runs each batch in a worker thread.

    run_batch(images, options) -> one result (or exception) per image, in order.
    """

    def __init__(self, run_batch: Callable[[list[Image.Image], CaptionOptions], list], max_batch: int, wait_s: float,
                 on_drop: Callable[[], None]):
        self.run_batch, self.max_batch, self.wait_s, self.on_drop = run_batch, max(1, max_batch), wait_s, on_drop
        self.pending: list[_Job] = []
        self.batches = self.batched_jobs = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, image: Image.Image, options: CaptionOptions, disconnected=None):
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._worker = loop.create_task(self._work())
        job = _Job(image, options, disconnected, loop.create_future())
        self.pending.append(job)
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            if job in self.pending:
                self.pending.remove(job)
            raise

    def _take(self) -> list[_Job]:
        """Up to max_batch pending jobs with the options of the oldest one (first come, first served)."""
        options = self.pending[0].options
        batch = [job for job in self.pending if job.options == options][: self.max_batch]
        self.pending = [job for job in self.pending if job not in batch]
        return batch

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            if self.wait_s > 0 and len(self.pending) < self.max_batch:
                await asyncio.sleep(self.wait_s)  # let a few more requests join this batch
            batch = self._take()
            if not self.pending:
                self._wake.clear()
            live = []
            for job in batch:
                if job.future.done():  # its request was cancelled
                    continue
                if job.disconnected is not None and await job.disconnected():
                    self.on_drop()
                    job.future.set_exception(ClientGone())
                    continue
                live.append(job)
            if not live:
                continue
            try:
                results = await anyio.to_thread.run_sync(self.run_batch, [job.image for job in live], live[0].options)
            except Exception as exc:  # run_batch isolates failures itself; this is the last resort
                log.exception("caption batch failed")
                results = [exc] * len(live)
            self.batches += 1
            self.batched_jobs += len(live)
            for job, result in zip(live, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)


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
        self.batcher = MicroBatcher(self._run_batch, settings.max_batch, settings.batch_wait_ms / 1000, self._dropped)
        self.fetch_limiter = anyio.CapacityLimiter(settings.max_fetches)  # slow URLs never take every thread
        self.picture_limiter = anyio.CapacityLimiter(2)  # the page's previews and heat maps
        self.decode_limiter = anyio.CapacityLimiter(settings.max_decodes)  # decoding's memory budget
        self.waiting = 0  # requests queued for (or holding) the model
        self.stats = {"computed": 0, "cached": 0, "dropped": 0, "busy": 0}

    def _dropped(self) -> None:
        self.stats["dropped"] += 1

    def _run_batch(self, images: list[Image.Image], options: CaptionOptions) -> list:
        """One CaptionResult per image (with attention, for the page's heat maps), or the exception
        of an image that failed alone."""
        return self.captioner.caption_isolated(images, replace(options, attention=True))

    async def caption(self, data: bytes, options: CaptionOptions | None = None,
                      disconnected: Callable[[], Awaitable[bool]] | None = None, source: str | None = None) -> dict:
        """The answer (the JSON of a CaptionResult) for these image bytes and options, from the cache
        when seen before.

        disconnected: tells whether the client has gone (checked when the request's batch forms).
        source: the URL the bytes came from (None for an upload).
        """
        options = options or CaptionOptions()
        started = time.perf_counter()
        key = (hashlib.sha256(data).hexdigest(), options)
        answer = self.cache.get(key)
        cached = answer is not None
        if answer is None:
            if self.waiting >= self.settings.max_queue:
                self.stats["busy"] += 1
                raise RequestRefused(f"the server is busy ({self.waiting} requests waiting): try again shortly", 503)
            self.waiting += 1
            try:
                image = await self.decode(data)
                decoded = time.perf_counter()
                result = await self.batcher.submit(image, options, disconnected)
                waited = time.perf_counter() - decoded
            finally:
                self.waiting -= 1
            timings = {"decode_image": round(1000 * (decoded - started), 1), "queue": round(1000 * waited, 1),
                       **result.timings_ms}
            answer = replace(result, image={**result.image, "bytes": len(data)}, timings_ms=timings)
            self.stats["computed"] += 1
            self.cache.put(key, answer)
        else:
            self.stats["cached"] += 1
        total = round(1000 * (time.perf_counter() - started), 1)
        return replace(answer, cached=cached, source=source, timings_ms={**answer.timings_ms, "total": total}).to_dict()

    async def read_upload(self, file: UploadFile) -> bytes:
        limit = self.settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"upload is larger than {limit:,} bytes", "too_large")
        return data

    async def decode(self, data: bytes) -> Image.Image:
        """Decode in a worker thread, at most `max_decodes` at once; a URL's body that is not an image
        is refused as the URL's fault (415), decoded once."""
        try:
            return await anyio.to_thread.run_sync(load_image, data, self.settings.max_pixels, limiter=self.decode_limiter)
        except ImageError as exc:
            content_type = getattr(data, "content_type", None)
            if exc.reason == "unsupported" and content_type is not None and not content_type.startswith("image/"):
                raise FetchError(f"the URL did not return an image (content type {content_type or 'none'!r})", "unsupported") from None
            raise

    async def fetch(self, url: str) -> bytes:
        """The URL's body, carrying its content type (`Fetched`); decoded later, once, by `caption`."""
        data, content_type = await anyio.to_thread.run_sync(fetch_image_bytes, url, self.settings.fetch,
                                                               limiter=self.fetch_limiter)
        return Fetched(data, content_type)


class Fetched(bytes):
    """An image URL's body and the content type it was served with."""

    def __new__(cls, data: bytes, content_type: str):
        fetched = super().__new__(cls, data)
        fetched.content_type = content_type
        return fetched
