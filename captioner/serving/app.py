"""FastAPI app: a page to upload an image or paste a URL, and a JSON API, over one CaptionService.

The model is loaded once when the app is created (see serving/service.py for the cache and the
worker thread); the handlers below are small functions that take the service as a dependency.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from captioner.runtime.options import HELP, CaptionOptions
from captioner.errors import ImageError, InputError
from captioner.export.loading import load_captioner
from captioner.runtime.model.captioner import Captioner
from captioner.serving.guards import RequestGuard
from captioner.serving.refusals import REFUSALS, RequestRefused, status_of
from captioner.serving import pictures
from captioner.serving.service import CaptionService, ServeSettings

HERE = Path(__file__).resolve().parent
DEFAULTS = CaptionOptions()  # the one source of the options' defaults (also the CLI's and the Python API's)
MAX_BEAM, MAX_WORDS = 10, 50  # what one request may ask for
MAX_JSON_BODY = 16 * 1024  # /api/caption-url's body: a valid one is under 3 kB (a 2,048-character URL and four fields)
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
FAVICON = HERE / "static" / "favicon.png"


class UrlRequest(BaseModel):
    url: str = Field(..., max_length=2048, description="http(s) URL of an image")
    beam_size: int = Field(DEFAULTS.beam_size, ge=1, le=MAX_BEAM)
    max_length: int = Field(DEFAULTS.max_length, ge=1, le=MAX_WORDS)
    grounding: bool = Field(DEFAULTS.grounding, description=HELP["grounding"])


class Alternative(BaseModel):
    caption: str
    score: float
    log_prob: float


class ResultJSON(BaseModel):
    """The JSON of the one result type (runtime/model/result.py), every key always present."""

    caption: str
    alternatives: list[Alternative]
    concepts: dict | None = Field(None, description="ImageNet words and detector scores; required and blocked words")
    attention: list[dict] | None = Field(None, description="per word, the attention grid over the photo (attention decoders)")
    model: str | None
    encoder: str | None
    image: dict[str, int] | None = Field(None, description="width, height and bytes of the image as received")
    source: str | None = Field(None, description="the path or URL captioned (null for uploads)")
    timings_ms: dict[str, float]
    cached: bool
    error: str | None = None


def get_service(request: Request) -> CaptionService:
    return request.app.state.service


router = APIRouter()


@router.head("/api/health", include_in_schema=False)
@router.get("/api/health")
async def health(service: CaptionService = Depends(get_service)) -> dict:
    batcher = service.batcher
    return {"status": "ok", "model": service.captioner.model_path.stem, "queue": service.waiting, **service.stats,
            "batches": batcher.batches, "mean_batch": round(batcher.batched_jobs / max(batcher.batches, 1), 2)}


@router.get("/api/model")
async def model_info(service: CaptionService = Depends(get_service)) -> dict:
    return {**service.captioner.metadata, "load_ms": round(service.captioner.load_ms, 1)}


@router.post("/api/caption", response_model=ResultJSON)
async def caption_upload(request: Request, file: UploadFile = File(..., description="image file"),
                         beam_size: int = Form(DEFAULTS.beam_size, ge=1, le=MAX_BEAM),
                         max_length: int = Form(DEFAULTS.max_length, ge=1, le=MAX_WORDS),
                         grounding: bool = Form(DEFAULTS.grounding, description=HELP["grounding"]),
                         service: CaptionService = Depends(get_service)):
    options = CaptionOptions(beam_size=beam_size, max_length=max_length, grounding=grounding)
    return await service.caption(await service.read_upload(file), options, request.is_disconnected)


@router.post("/api/caption-url", response_model=ResultJSON)
async def caption_url(body: UrlRequest, request: Request, service: CaptionService = Depends(get_service)):
    options = CaptionOptions(beam_size=body.beam_size, max_length=body.max_length, grounding=body.grounding)
    return await service.caption(await service.fetch(body.url), options, request.is_disconnected, source=body.url)



@router.head("/", include_in_schema=False)
@router.get("/", response_class=HTMLResponse)
async def page(request: Request):
    return TEMPLATES.TemplateResponse(request, "index.html", {"result": None, "error": None,
                                                               "default_beam": DEFAULTS.beam_size})


@router.post("/", response_class=HTMLResponse)
async def page_submit(request: Request, file: UploadFile | None = File(None), url: str = Form(""),
                      beam_size: int = Form(DEFAULTS.beam_size, ge=1, le=MAX_BEAM), grounding: bool = Form(False),
                      service: CaptionService = Depends(get_service)):
    """The no-JavaScript path: the form posts here and the page comes back with the caption."""
    context: dict = {"result": None, "error": None, "default_beam": DEFAULTS.beam_size}
    status = 200
    try:
        if file is not None and file.filename:
            data = await service.read_upload(file)
        elif url.strip():
            data = await service.fetch(url.strip())
        else:
            raise ImageError("choose an image file or paste an image URL", "invalid")
        options = CaptionOptions(beam_size=beam_size, grounding=grounding)
        context["result"] = await service.caption(data, options, request.is_disconnected,
                                                  source=url.strip() if not (file is not None and file.filename) else None)
        context["preview"], context["heatmaps"] = await anyio.to_thread.run_sync(
            pictures.page_pictures, data, context["result"].get("attention") or [], limiter=service.picture_limiter)
    except REFUSALS as exc:  # bad image, bad URL (FetchError), busy
        context["error"], status = str(exc), status_of(exc)
    return TEMPLATES.TemplateResponse(request, "index.html", context, status_code=status)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(FAVICON.read_bytes(), media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
async def docs(request: Request):
    """Swagger UI from files installed with the package (no CDN; works offline)."""
    return TEMPLATES.TemplateResponse(request, "docs.html", {})


async def refused(_: Request, exc: InputError | RequestRefused) -> JSONResponse:
    """Every refusal (bad image, bad URL, busy) is a JSON {"detail": "..."} with its status."""
    status = status_of(exc)
    headers = {"Retry-After": "2"} if status == 503 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def invalid_request(request: Request, exc: RequestValidationError):
    """422 without echoing the input (a NaN or 1e400 could not be written as JSON); the form's
    page gets the page back with the message."""
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()]
    if request.url.path == "/" and request.method == "POST":
        message = "; ".join(f"{d['loc'][-1] if d['loc'] else 'form'}: {d['msg']}" for d in detail)
        return TEMPLATES.TemplateResponse(request, "index.html", {"result": None, "error": message,
                                                                  "default_beam": DEFAULTS.beam_size}, status_code=422)
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(model: str | None = None, captioner: Captioner | None = None,
               settings: ServeSettings | None = None) -> FastAPI:
    app = FastAPI(title="captioner", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Caption an image (upload or URL) with a CNN + LSTM model trained on Flickr8k, "
                              "grounded in what the CNN recognises.")
    settings = settings or ServeSettings()
    app.state.service = CaptionService(captioner or load_captioner(model), settings)
    app.state.captioner, app.state.settings = app.state.service.captioner, app.state.service.settings
    for refusal in REFUSALS:  # bad input (ImageError, FetchError: InputErrors) and the server's own refusals
        app.add_exception_handler(refusal, refused)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(RequestGuard, max_body=settings.max_upload_bytes + 64 * 1024, body_timeout=settings.body_timeout,
                       route_limits={"/api/caption-url": MAX_JSON_BODY})
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/docs-static", StaticFiles(directory=str(Path(fastapi_offline.__file__).parent / "static")),
              name="docs-static")
    app.include_router(router)
    return app
