"""What to caption: image files, globs and folders, or a listing (.txt, .csv, .parquet) of paths and URLs.

A listing names one image per line (.txt) or per row (the `image` column of a .csv or .parquet,
else its first column): local paths, http(s) URLs (fetched through the web app's guard), or any
URI pyarrow's filesystems read (s3://, gs://, hdfs://, file://). `read_source` turns one of them
into bytes.
"""

from __future__ import annotations

import csv
import glob
from pathlib import Path

from captioner.runtime.data.fetch import FetchPolicy, fetch_image_bytes
from captioner.errors import CaptionerError, ImageError

# every still-image format the web app decodes (Pillow, pillow-heif), so a folder is read as an upload would be
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib", ".tif", ".tiff",
                  ".heic", ".heif", ".avif", ".ico", ".j2k", ".j2c", ".jp2", ".jpx", ".jpf", ".tga", ".pcx",
                  ".ppm", ".pgm", ".pbm", ".pnm", ".sgi", ".rgb", ".qoi", ".dds", ".icns", ".psd"}
LISTING_SUFFIXES = {".txt", ".csv", ".parquet"}


def expand_images(patterns: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths, in order given."""
    paths: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            paths.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.exists():
            paths.append(path)
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise CaptionerError(f"{pattern}: no such file, folder or matching files")
            paths.extend(Path(m) for m in matches if Path(m).is_file())
    return paths


def read_listing(listing: str) -> list[str]:
    """The image paths or URLs a .txt, .csv or .parquet file names (local or a pyarrow filesystem URI)."""
    suffix = Path(listing.split("?")[0]).suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise CaptionerError("a .parquet listing needs pyarrow: pip install pyarrow") from None
        table = pq.read_table(listing)
        column = "image" if "image" in table.column_names else table.column_names[0]
        return [str(v) for v in table.column(column).to_pylist() if v]
    text = read_source(listing).decode("utf-8-sig") if "://" in listing else _local_text(listing)
    if suffix == ".csv":
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            return []
        column = rows[0].index("image") if "image" in rows[0] else 0
        start = 1 if "image" in rows[0] or not _looks_like_image(rows[0][column]) else 0
        return [row[column].strip() for row in rows[start:] if len(row) > column and row[column].strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _local_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CaptionerError(f"cannot read the listing {path}: {exc.strerror or exc}") from None


def _looks_like_image(value: str) -> bool:
    return Path(value.split("?")[0]).suffix.lower() in IMAGE_SUFFIXES or "://" in value


def expand_sources(sources: list[str]) -> list[str]:
    """Command-line SOURCEs -> the images to caption, as strings (paths or URLs), in order."""
    if len(sources) == 1 and Path(sources[0].split("?")[0]).suffix.lower() in LISTING_SUFFIXES:
        return read_listing(sources[0])
    images: list[str] = []
    for source in sources:
        images.extend([source] if "://" in source else [str(p) for p in expand_images([source])])
    return images


def read_source(source: str, fetch_policy=None) -> bytes:
    """The bytes of one image: a local path, an http(s) URL (guarded), or a pyarrow filesystem URI."""
    if source.lower().startswith(("http://", "https://")):
        data, _ = fetch_image_bytes(source, fetch_policy or FetchPolicy())
        return data
    if "://" in source:
        try:
            from pyarrow import fs
        except ImportError:
            raise CaptionerError(f"{source}: reading URIs needs pyarrow: pip install pyarrow") from None
        try:
            filesystem, path = fs.FileSystem.from_uri(source)
            with filesystem.open_input_stream(path) as stream:
                return stream.read()
        except (OSError, ValueError) as exc:
            raise ImageError(f"{source}: cannot read ({str(exc).splitlines()[0][:160]})", "not_found") from None
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ImageError(f"{source}: {exc.strerror or 'cannot read'}", "not_found") from None
