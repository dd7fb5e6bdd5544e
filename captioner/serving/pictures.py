"""Pictures for the no-JavaScript page: a preview of the photo and one attention heat map per word."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from captioner.runtime.data.images import load_image


def _jpeg_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def page_pictures(data: bytes, attention: list[dict]) -> tuple[str, list[dict]]:
    """The no-JS page's preview and heat maps, from one decoding of the image (slow: not on the event loop)."""
    image = load_image(data)
    return preview_data_url(image), heatmap_data_urls(image, attention)


def preview_data_url(image: Image.Image, side: int = 512) -> str:
    """A small JPEG of the (RGB) image as a data: URL, so the no-JS page can show what was captioned."""
    image = image.copy()
    image.thumbnail((side, side))
    return _jpeg_data_url(image)


def heatmap_data_urls(image: Image.Image, attention: list[dict], side: int = 160) -> list[dict]:
    """Per word, the photo with its attention grid laid over it in red (the no-JS page's heat maps)."""
    if not attention:
        return []
    image = image.resize((side, side))
    maps = []
    for item in attention:
        grid = np.asarray(item["grid"], np.float32)  # (g, g)
        grid = grid / max(float(grid.max()), 1e-8)
        heat = Image.fromarray(np.uint8(255 * grid)).resize((side, side), Image.BILINEAR)
        red = Image.new("RGB", (side, side), (230, 30, 30))
        shaded = Image.composite(red, image.point(lambda v: v // 3), heat)  # dim where it did not look
        maps.append({"word": item["word"], "src": _jpeg_data_url(Image.blend(image, shaded, 0.75))})
    return maps
