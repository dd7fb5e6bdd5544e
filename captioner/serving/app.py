"""FastAPI app: a page to upload an image or paste a URL, and a JSON API, around one Captioner.

The model is loaded once when the app is created; inference runs in a worker thread (one at a
time, since torch already uses every core) so the event loop keeps answering; identical images
are answered from a small LRU cache keyed by the SHA-256 of their bytes and the search options.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import anyio
import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from PIL import Image
from pydantic import BaseModel, Field

from captioner.data.images import load_image
from captioner.decoding import SearchConfig
from captioner.errors import ImageError
from captioner.inference.captioner import Captioner
from captioner.serving.urlfetch import FetchError, FetchPolicy, fetch_image_bytes

HERE = Path(__file__).resolve().parent
SEARCH = SearchConfig()  # the one source of the search defaults (also the CLI's and the Python API's)
MAX_BEAM, MAX_WORDS = 10, 50  # what one request may ask for
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class ServeSettings:
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    cache_entries: int = 256
    fetch: FetchPolicy = FetchPolicy()


class UrlRequest(BaseModel):
    url: str = Field(..., max_length=2048, description="http(s) URL of an image")
    beam_size: int = Field(SEARCH.beam_size, ge=1, le=MAX_BEAM)
    max_length: int = Field(SEARCH.max_length, ge=1, le=MAX_WORDS)
    grounding: bool = Field(True, description="constrain the caption with the photo's visual concepts")


class Alternative(BaseModel):
    caption: str
    score: float
    log_prob: float


class CaptionResponse(BaseModel):
    caption: str
    alternatives: list[Alternative]
    model: str
    encoder: str
    cached: bool
    image: dict
    timings_ms: dict[str, float]
    concepts: dict | None = Field(None, description="ImageNet words and Flickr8k detector scores; required and blocked words")
    attention: list[dict] | None = Field(None, description="per word, the attention grid over the photo (attention decoders)")


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


def create_app(model: str | None = None, captioner: Captioner | None = None,
               settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    captioner = captioner or Captioner(model)
    app = FastAPI(title="captioner", version="0.1.0",
                  description="Caption an image (upload or URL) with a CNN + LSTM model trained on Flickr8k.")
    app.state.captioner, app.state.settings = captioner, settings
    cache = ResultCache(settings.cache_entries)
    limiter = anyio.CapacityLimiter(1)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def run_model(data: bytes, search: SearchConfig, grounding: bool) -> dict:
        started = time.perf_counter()
        image = load_image(data)
        decoded = time.perf_counter()
        [result] = captioner.caption([image], search, grounded=grounding, attention=True)
        record = {k: v for k, v in result.to_dict().items() if k != "error"}  # the Python API's result
        timings = {"decode_image": round(1000 * (decoded - started), 1), **result.timings_ms}
        return {**record, "model": captioner.model_path.stem, "encoder": captioner.encoder.name,
                "image": {"width": image.width, "height": image.height, "bytes": len(data)}, "timings_ms": timings}

    async def caption_bytes(data: bytes, beam_size: int, max_length: int, grounding: bool = True) -> dict:
        started = time.perf_counter()
        key = f"{hashlib.sha256(data).hexdigest()}:{beam_size}:{max_length}:{int(grounding)}"
        answer = cache.get(key)
        cached = answer is not None
        if answer is None:
            search = SearchConfig(beam_size=beam_size, max_length=max_length)
            answer = await anyio.to_thread.run_sync(run_model, data, search, grounding, limiter=limiter)
            cache.put(key, answer)
        total = round(1000 * (time.perf_counter() - started), 1)
        return {**answer, "cached": cached, "timings_ms": {**answer["timings_ms"], "total": total}}

    async def read_upload(file: UploadFile) -> bytes:
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ImageError(f"upload is larger than {settings.max_upload_bytes:,} bytes", 413)
        return data

    async def fetch(url: str) -> bytes:
        data, content_type = await anyio.to_thread.run_sync(fetch_image_bytes, url, settings.fetch)
        if not content_type.startswith("image/"):
            try:
                load_image(data)
            except ImageError:
                raise FetchError(f"the URL did not return an image (content type {content_type or 'none'!r})", 415) from None
        return data

    @app.exception_handler(ImageError)  # FetchError is an ImageError too
    async def image_error(_: Request, exc: ImageError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.get("/api/health")
    async def health() -> dict:
        return {"status": "ok", "model": captioner.model_path.stem}

    @app.get("/api/model")
    async def model_info() -> dict:
        return {**captioner.metadata, "load_ms": round(captioner.load_ms, 1)}

    @app.post("/api/caption", response_model=CaptionResponse)
    async def caption_upload(file: UploadFile = File(..., description="image file"),
                             beam_size: int = Form(SEARCH.beam_size, ge=1, le=MAX_BEAM),
                             max_length: int = Form(SEARCH.max_length, ge=1, le=MAX_WORDS),
                             grounding: bool = Form(True, description="constrain the caption with the photo's concepts")):
        return await caption_bytes(await read_upload(file), beam_size, max_length, grounding)

    @app.post("/api/caption-url", response_model=CaptionResponse)
    async def caption_url(body: UrlRequest):
        return await caption_bytes(await fetch(body.url), body.beam_size, body.max_length, body.grounding)

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        return templates.TemplateResponse(request, "index.html", {"result": None, "error": None,
                                                                   "default_beam": SEARCH.beam_size})

    @app.post("/", response_class=HTMLResponse)
    async def page_submit(request: Request, file: UploadFile | None = File(None), url: str = Form(""),
                          beam_size: int = Form(SEARCH.beam_size, ge=1, le=MAX_BEAM), grounding: bool = Form(False)):
        """The no-JavaScript path: the form posts here and the page comes back with the caption."""
        context: dict = {"result": None, "error": None, "default_beam": SEARCH.beam_size}
        status = 200
        try:
            if file is not None and file.filename:
                data = await read_upload(file)
            elif url.strip():
                data = await fetch(url.strip())
            else:
                raise ImageError("choose an image file or paste an image URL", 400)
            context["result"] = await caption_bytes(data, beam_size, SEARCH.max_length, grounding)
            context["preview"] = preview_data_url(data)
            context["heatmaps"] = heatmap_data_urls(data, context["result"].get("attention") or [])
        except ImageError as exc:  # FetchError included
            context["error"], status = str(exc), exc.status_code
        return templates.TemplateResponse(request, "index.html", context, status_code=status)

    return app


def _jpeg_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def preview_data_url(data: bytes, side: int = 512) -> str:
    """A small JPEG of the image as a data: URL, so the no-JS page can show what was captioned."""
    image = load_image(data)
    image.thumbnail((side, side))
    return _jpeg_data_url(image)


def heatmap_data_urls(data: bytes, attention: list[dict], side: int = 160) -> list[dict]:
    """Per word, the photo with its attention grid laid over it in red (the no-JS page's heat maps)."""
    if not attention:
        return []
    image = load_image(data).resize((side, side))
    maps = []
    for item in attention:
        grid = np.asarray(item["grid"], np.float32)  # (g, g)
        grid = grid / max(float(grid.max()), 1e-8)
        heat = Image.fromarray(np.uint8(255 * grid)).resize((side, side), Image.BILINEAR)
        red = Image.new("RGB", (side, side), (230, 30, 30))
        shaded = Image.composite(red, image.point(lambda v: v // 3), heat)  # dim where it did not look
        maps.append({"word": item["word"], "src": _jpeg_data_url(Image.blend(image, shaded, 0.75))})
    return maps
