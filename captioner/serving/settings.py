"""The web service's bounds: plain data (the CLI builds `serve` flags from them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from captioner.runtime.data.fetch import FetchPolicy
from captioner.runtime.data.images import MAX_IMAGE_PIXELS
from captioner.settings import BATCH_SIZE


@dataclass
class ServeSettings:
    """Every resource bound of the web service (also `captioner serve` flags; see the README)."""

    max_upload_bytes: int = 10 * 1024 * 1024  # the whole request body, checked as it arrives
    max_pixels: int = MAX_IMAGE_PIXELS  # larger images are refused before decoding (413)
    cache_entries: int = 256
    max_queue: int = 64  # requests waiting for the model; one more gets 503
    body_timeout: float = 30.0  # seconds to receive a request body
    header_timeout: float = 10.0  # seconds from connecting to a complete request head (slowloris)
    keep_alive: float = 5.0  # idle seconds a kept-alive connection stays open
    max_connections: int = 200  # concurrent connections and requests; more get 503
    max_fetches: int = 8  # image URLs fetched at once (each in a worker thread, at most fetch.total_timeout)
    max_decodes: int = 2  # images decoded at once (each may take a few hundred MB while it decodes)
    max_batch: int = BATCH_SIZE  # requests captioned together in one pass through encoder and decoder
    batch_wait_ms: float = 2.0  # how long the model worker waits for more requests before a batch
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
