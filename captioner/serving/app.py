"""FastAPI app: a page to upload an image or paste a URL, and a JSON API, over one CaptionService.

The model is loaded once when the app is created (see serving/service.py for the cache and the
worker thread); the handlers below are small functions that take the service as a dependency.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from captioner.decoding import SearchConfig
from captioner.errors import ImageError
from captioner.inference.captioner import Captioner
from captioner.serving.pictures import heatmap_data_urls, preview_data_url
from captioner.serving.service import CaptionService, ServeSettings

HERE = Path(__file__).resolve().parent
SEARCH = SearchConfig()  # the one source of the search defaults (also the CLI's and the Python API's)
MAX_BEAM, MAX_WORDS = 10, 50  # what one request may ask for
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))


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


def get_service(request: Request) -> CaptionService:
    return request.app.state.service


router = APIRouter()


@router.get("/api/health")
async def health(service: CaptionService = Depends(get_service)) -> dict:
    return {"status": "ok", "model": service.captioner.model_path.stem}


@router.get("/api/model")
async def model_info(service: CaptionService = Depends(get_service)) -> dict:
    return {**service.captioner.metadata, "load_ms": round(service.captioner.load_ms, 1)}


@router.post("/api/caption", response_model=CaptionResponse)
async def caption_upload(file: UploadFile = File(..., description="image file"),
                         beam_size: int = Form(SEARCH.beam_size, ge=1, le=MAX_BEAM),
                         max_length: int = Form(SEARCH.max_length, ge=1, le=MAX_WORDS),
                         grounding: bool = Form(True, description="constrain the caption with the photo's concepts"),
                         service: CaptionService = Depends(get_service)):
    return await service.caption(await service.read_upload(file), beam_size, max_length, grounding)


@router.post("/api/caption-url", response_model=CaptionResponse)
async def caption_url(body: UrlRequest, service: CaptionService = Depends(get_service)):
    return await service.caption(await service.fetch(body.url), body.beam_size, body.max_length, body.grounding)


@router.get("/", response_class=HTMLResponse)
async def page(request: Request):
    return TEMPLATES.TemplateResponse(request, "index.html", {"result": None, "error": None,
                                                               "default_beam": SEARCH.beam_size})


@router.post("/", response_class=HTMLResponse)
async def page_submit(request: Request, file: UploadFile | None = File(None), url: str = Form(""),
                      beam_size: int = Form(SEARCH.beam_size, ge=1, le=MAX_BEAM), grounding: bool = Form(False),
                      service: CaptionService = Depends(get_service)):
    """The no-JavaScript path: the form posts here and the page comes back with the caption."""
    context: dict = {"result": None, "error": None, "default_beam": SEARCH.beam_size}
    status = 200
    try:
        if file is not None and file.filename:
            data = await service.read_upload(file)
        elif url.strip():
            data = await service.fetch(url.strip())
        else:
            raise ImageError("choose an image file or paste an image URL", 400)
        context["result"] = await service.caption(data, beam_size, SEARCH.max_length, grounding)
        context["preview"] = preview_data_url(data)
        context["heatmaps"] = heatmap_data_urls(data, context["result"].get("attention") or [])
    except ImageError as exc:  # FetchError included
        context["error"], status = str(exc), exc.status_code
    return TEMPLATES.TemplateResponse(request, "index.html", context, status_code=status)


async def image_error(_: Request, exc: ImageError) -> JSONResponse:
    """Every refusal (bad image, bad URL) is a 4xx JSON {"detail": "..."}."""
    return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)


async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 without echoing the input: a NaN or 1e400 in the body could not be written as JSON."""
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(model: str | None = None, captioner: Captioner | None = None,
               settings: ServeSettings | None = None) -> FastAPI:
    app = FastAPI(title="captioner", version="0.1.0",
                  description="Caption an image (upload or URL) with a CNN + LSTM model trained on Flickr8k, "
                              "grounded in what the CNN recognises.")
    app.state.service = CaptionService(captioner or Captioner(model), settings or ServeSettings())
    app.state.captioner, app.state.settings = app.state.service.captioner, app.state.service.settings
    app.add_exception_handler(ImageError, image_error)  # FetchError is an ImageError too
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
    return app
