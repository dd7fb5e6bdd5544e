"""Open any image safely and turn it into an upright 8-bit RGB picture.

Everything that reaches an encoder goes through `load_image`, so that odd files (alpha, palette,
16-bit, CMYK, animated, EXIF-rotated, truncated, decompression bombs) are handled in one place.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from captioner.errors import ImageError

# Pixels above this are refused before decoding (a 20000x20000 PNG is 400 M pixels), and so is a
# side longer than MAX_SIDE (a 1x40,000,000 strip is within the pixel count but not a photo).
MAX_IMAGE_PIXELS = 40_000_000
MAX_SIDE = 30_000
BACKGROUND = (255, 255, 255)
DECODE_SIDE = 1024  # formats that can decode smaller (JPEG 2000) do, down to this long side; encoders want 260-299
MAX_TEXT_CHUNKS = 1000  # a PNG with more text chunks is refused before Pillow walks them one by one
ROWS_PER_BLOCK = 256  # high-bit-depth images are rescaled this many rows at a time (bounded extra memory)
# Pillow's own bomb check uses the same limit: it also guards images inside containers (an ICO or
# ICNS whose directory says 256x256 but whose embedded PNG is 9000x9000) before they are decoded.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _register_heif() -> None:
    """Phones' HEIC/HEIF photos through pillow-heif, when it is installed (AVIF is in Pillow itself)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - it is a dependency; a trimmed install still reads the rest
        return
    register_heif_opener()


_register_heif()


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode `source` (a path or raw bytes) to an RGB image, or raise `ImageError` saying why."""
    name = "image" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("empty file: no image data", "invalid")
        if source[:8] == b"\x89PNG\r\n\x1a\n" and sum(source.count(t) for t in (b"tEXt", b"zTXt", b"iTXt")) > MAX_TEXT_CHUNKS:
            raise ImageError(f"{name}: PNG with more than {MAX_TEXT_CHUNKS:,} text chunks", "unreadable")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        if not stream.is_file():
            raise ImageError(f"{name}: no such file", "invalid")
    try:
        with warnings.catch_warnings():
            # Pillow's process-wide bomb limit is set once, above, and never per call (threads share it).
            # Its warning is a refusal up to that limit; a caller allowing more relies on our own size
            # checks (before and after decoding) and on Pillow's hard error at twice its limit.
            if max_pixels <= MAX_IMAGE_PIXELS:
                warnings.simplefilter("error", Image.DecompressionBombWarning)
            else:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return normalise(Image.open(stream), name, max_pixels)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (unknown or unsupported format)", "unsupported") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image is too large (over Pillow's decompression-bomb limit)", "too_large") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from None  # "unreadable", as every ImageError


def normalise(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    """An opened image -> upright 8-bit RGB: size limit, first frame, EXIF orientation, any mode."""
    _check_size(image, name, max_pixels)
    if getattr(image, "is_animated", False):
        image.seek(0)  # animated GIF/WebP/APNG: caption the first frame
    if image.format == "JPEG2000" and max(image.size) > 2 * DECODE_SIDE:
        # decode at a power-of-two reduction no smaller than DECODE_SIDE: OpenJPEG holds the Python lock
        # while it decodes, and a 377-byte .j2k can ask for 6000x6000 pixels of work
        image.reduce = int(math.log2(max(image.size) / DECODE_SIDE))
    image.load()
    _check_size(image, name, max_pixels)  # a container may hold a larger image than its header says
    image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels or max(width, height) > MAX_SIDE:
        raise ImageError(f"{name}: image is too large ({width}x{height} pixels; limit {max_pixels:,} "
                         f"and {MAX_SIDE:,} a side)", "too_large")


def image_from_pil(image: Image.Image, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """A PIL image of any mode, as `load_image` would have made it from its file."""
    try:
        return normalise(image, "image", max_pixels)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"image: unusable PIL image ({exc})") from None


def image_from_array(array: np.ndarray, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, uint8 0..255 or float 0..1 -> RGB image."""
    values = np.asarray(array)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[2] not in (3, 4)) or 0 in values.shape:
        raise ImageError(f"array of shape {values.shape} is not an image: expected (H, W), (H, W, 3) or (H, W, 4)")
    if values.dtype == np.bool_:
        values = values.astype(np.uint8) * 255
    elif np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise ImageError("array image has NaN or infinite values")
        values = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif values.dtype != np.uint8:
        if not np.issubdtype(values.dtype, np.integer):
            raise ImageError(f"array of dtype {values.dtype} is not an image")
        top = 65535 if values.max(initial=0) > 255 else 255
        values = np.clip(values.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return image_from_pil(Image.fromarray(np.ascontiguousarray(values)), max_pixels)  # L, RGB or RGBA


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha is composited on white, 16-bit is rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image)  # (H, W) as stored: uint16, int32 or float32, no wider copy
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.empty(values.shape, np.uint8)  # (H, W)
        for start in range(0, values.shape[0], ROWS_PER_BLOCK):  # float32 a block of rows at a time
            block = values[start : start + ROWS_PER_BLOCK].astype(np.float32)
            np.clip(block * np.float32(255.0 / top) + np.float32(0.5), 0, 255, out=block)
            gray[start : start + ROWS_PER_BLOCK] = block
        del values
        return Image.fromarray(gray).convert("RGB")  # (H, W) uint8: mode L
    if mode == "La":  # premultiplied grey and alpha: Pillow converts it to LA only
        image, mode = image.convert("LA"), "LA"
    if mode in ("P", "PA", "RGBA", "LA", "RGBa"):  # a palette may hold transparency too
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def resize_square(image: Image.Image, size: int) -> np.ndarray:
    """Squash to size x size (as the Flickr8k copies were made) and return uint8 HxWx3."""
    resized = image.resize((size, size), Image.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)  # (size, size, 3)
