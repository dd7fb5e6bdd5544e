"""A generator of bad and odd requests for the web service (issue 10's attack corpus).

`attack_corpus(photo, host)` builds, from one real JPEG, a list of `Case`s: truncated, corrupted
and random bytes in every format Pillow reads, decompression bombs in PNG/GIF/WebP/ICO/TIFF/JPEG
headers, every Pillow mode, malformed EXIF, odd sizes, multipart and parameter edge cases, bad
JSON, hostile and malformed URLs (some served by the local `host`, the tests' image server), path
traversal and wrong methods. Used by tests/serving/test_attack_corpus.py (every case, then a real
photo) and scripts/load_test.py --corpus (mixed with valid requests under load).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image


@dataclass
class Case:
    name: str
    method: str
    path: str
    options: dict = field(default_factory=dict)  # httpx request keyword arguments (files, data, json, content, headers)


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, body: bytes = b"") -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + (_chunk(b"IDAT", body) if body else b"") + _chunk(b"IEND", b""))


def _bombs(photo_image: Image.Image) -> dict[str, bytes]:
    """Headers that claim enormous pixel counts (little data behind them)."""
    small = _encode(Image.new("1", (9000, 9000), 1), "PNG")
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(small), 22) + small
    gif = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b",\x00\x00\x00\x00" + struct.pack(
        "<HH", 65535, 65535) + b"\x00\x02\x02\x44\x01\x00;"
    webp_vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
    webp = b"RIFF" + struct.pack("<I", 4 + len(webp_vp8x)) + b"WEBP" + webp_vp8x
    tiff = _encode(Image.new("L", (8, 8)), "TIFF")
    tiff = tiff.replace(struct.pack("<HHII", 256, 4, 1, 8), struct.pack("<HHII", 256, 4, 1, 200000), 1)
    jpeg = bytearray(_encode(photo_image, "JPEG"))
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        jpeg[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)
    deep = Image.new("I;16", (1200, 1200))  # 16-bit: rescaled without float64 copies
    many_texts = _encode(Image.new("RGB", (8, 8)), "PNG")
    many_texts = many_texts[:33] + _chunk(b"tEXt", b"k\x00v") * 5000 + many_texts[33:]
    j2k = _encode(Image.new("RGB", (6000, 6000), (90, 120, 30)), "JPEG2000", irreversible=True,
                  quality_mode="rates", quality_layers=[2000])
    return {"tiff 16-bit 1200 x 1200": _encode(deep, "TIFF"), "png with 5000 text chunks": many_texts,
            "j2k 6000 x 6000": j2k, "png 100k x 100k header": _png_header(100_000, 100_000),
            "png 1 x 40M strip": _png_header(1, 40_000_000, zlib.compress(b"\x00\x00\x00\x00" * 100_000)),
            "png 0 x 0": _png_header(0, 0), "gif 65535 x 65535": gif, "webp 16384 x 16384 canvas": webp,
            "ico hiding a 9000 x 9000 png": ico, "tiff 8 x 200000 declared": tiff, "jpeg 65000 x 65000 sof": bytes(jpeg)}


def _images(photo: bytes, rng: random.Random) -> dict[str, bytes]:
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    small = image.resize((64, 48))
    out: dict[str, bytes] = {}
    formats = {"jpeg": ("JPEG", {}), "png": ("PNG", {}), "gif": ("GIF", {}), "webp": ("WEBP", {}), "bmp": ("BMP", {}),
               "tiff": ("TIFF", {}), "ico": ("ICO", {}), "tga": ("TGA", {}), "ppm": ("PPM", {}),
               "pcx": ("PCX", {}), "avif": ("AVIF", {})}
    for name, (fmt, kw) in formats.items():
        try:
            data = _encode(small, fmt, **kw)
        except (KeyError, OSError, ValueError):  # a codec missing from this Pillow build
            continue
        out[f"{name} valid"] = data
        for cut in (0.1, 0.5, 0.9):
            out[f"{name} truncated at {cut:.0%}"] = data[: max(1, int(len(data) * cut))]
        flipped = bytearray(data)
        for _ in range(20):
            flipped[rng.randrange(8, len(flipped))] ^= 0xFF
        out[f"{name} 20 bytes flipped"] = bytes(flipped)
        out[f"{name} magic + random"] = data[:16] + rng.randbytes(2000)
    for mode in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "F"):
        converted = small.convert(mode) if mode not in ("I;16", "PA") else (
            small.convert("L").convert("I;16") if mode == "I;16" else small.convert("P").convert("PA"))
        for fmt in ("PNG", "TIFF", "WEBP"):
            try:
                out[f"mode {mode} as {fmt}"] = _encode(converted, fmt)
            except (OSError, ValueError, KeyError):
                continue
    palette = small.convert("P")
    palette.info["transparency"] = 0
    out["palette with transparency"] = _encode(palette, "PNG", transparency=0)
    animated = io.BytesIO()
    small.save(animated, "GIF", save_all=True, append_images=[small.rotate(90), small.rotate(180)], duration=50)
    out["animated gif"] = animated.getvalue()
    for orientation in range(0, 10):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out[f"exif orientation {orientation}"] = _encode(small, "JPEG", exif=exif.tobytes())
    out["exif garbage"] = _encode(small, "JPEG", exif=b"Exif\x00\x00" + rng.randbytes(300))
    out["exif truncated header"] = _encode(small, "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff")
    out["exif huge ifd count"] = _encode(small, "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 64)
    for size in ((1, 1), (1, 2000), (2000, 1), (3, 3), (4000, 3)):
        out[f"size {size[0]}x{size[1]}"] = _encode(Image.new("RGB", size, (200, 10, 10)), "PNG")
    out["empty"] = b""
    out["one byte"] = b"\xff"
    out["jpeg soi only"] = b"\xff\xd8"
    out["png signature only"] = b"\x89PNG\r\n\x1a\n"
    out["html"] = b"<html><script>alert(1)</script></html>"
    out["svg"] = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    out["pdf"] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    out["zip"] = b"PK\x03\x04" + rng.randbytes(100)
    out["gzip of a jpeg"] = zlib.compress(photo)
    for n in range(20):
        out[f"random bytes {n}"] = rng.randbytes(rng.choice([3, 17, 100, 1000, 5000, 40000]))
    for name, data in _bombs(image).items():
        out[f"bomb: {name}"] = data
    return out


def _uploads(images: dict[str, bytes]) -> list[Case]:
    cases = [Case(f"upload {name}", "POST", "/api/caption", {"files": {"file": ("image", data, "application/octet-stream")}})
             for name, data in images.items()]
    for name in ("png valid", "jpeg truncated at 50%", "bomb: png 100k x 100k header", "exif orientation 9"):
        if name in images:
            cases.append(Case(f"form page {name}", "POST", "/", {"files": {"file": ("x.png", images[name], "image/png")}}))
    return cases


def _parameters(photo: bytes) -> list[Case]:
    upload = {"file": ("a.jpg", photo, "image/jpeg")}
    cases = []
    for field_name, values in {"beam_size": ["", "-1", "0", "11", "abc", "1e9", "NaN", "3.5", "9" * 40, "\x00"],
                               "max_length": ["0", "-5", "51", "x", "1e400"], "grounding": ["maybe", "2", ""]}.items():
        for value in values:
            cases.append(Case(f"form {field_name}={value[:12]!r}", "POST", "/api/caption",
                              {"files": upload, "data": {field_name: value}}))
            cases.append(Case(f"page {field_name}={value[:12]!r}", "POST", "/", {"files": upload, "data": {field_name: value}}))
    cases += [
        Case("upload without a file", "POST", "/api/caption", {"data": {"beam_size": "3"}}),
        Case("upload with a wrong field name", "POST", "/api/caption", {"files": {"image": ("a.jpg", photo)}}),
        Case("upload with two files", "POST", "/api/caption", {"files": [("file", ("a.jpg", photo)), ("file", ("b.jpg", photo))]}),
        Case("upload with an empty file name", "POST", "/api/caption", {"files": {"file": ("", photo)}}),
        Case("upload with a hostile file name", "POST", "/api/caption",
             {"files": {"file": ("../../etc/passwd\r\n<script>.jpg", photo)}}),
        Case("upload as text/plain", "POST", "/api/caption", {"content": photo, "headers": {"content-type": "text/plain"}}),
        Case("multipart without a boundary", "POST", "/api/caption",
             {"content": b"--x\r\n\r\n", "headers": {"content-type": "multipart/form-data"}}),
        Case("multipart cut short", "POST", "/api/caption",
             {"content": b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n\xff\xd8',
              "headers": {"content-type": "multipart/form-data; boundary=XyZ"}}),
        Case("multipart with a 100 kB header", "POST", "/api/caption",
             {"content": b"--XyZ\r\nContent-Disposition: form-data; name=\"" + b"f" * 100_000 + b"\"\r\n\r\nx\r\n--XyZ--\r\n",
              "headers": {"content-type": "multipart/form-data; boundary=XyZ"}}),
        Case("multipart with 2000 fields", "POST", "/api/caption",
             {"data": {f"f{i}": "x" for i in range(2000)}, "files": upload}),
        Case("json to the upload endpoint", "POST", "/api/caption", {"json": {"file": "x"}}),
        Case("page with nothing", "POST", "/", {"data": {}}),
        Case("page with a blank url", "POST", "/", {"data": {"url": "   "}}),
        Case("page with both file and url", "POST", "/", {"files": upload, "data": {"url": "http://10.0.0.1/a.jpg"}}),
    ]
    return cases


def _json_bodies() -> list[Case]:
    raw = {"empty": b"", "not json": b"{url:", "null": b"null", "list": b"[1,2]", "string": b'"http://x"',
           "nan": b'{"url":"ftp://x","beam_size":NaN}', "infinity": b'{"url":"ftp://x","beam_size":1e400}',
           "deep nesting": b'{"url":' + b"[" * 5000 + b"]" * 5000 + b"}", "non-utf8": b'{"url":"\xff\xfe"}',
           "duplicate keys": b'{"url":"ftp://a","url":"ftp://b"}', "huge number": b'{"url":"ftp://x","beam_size":' + b"9" * 5000 + b"}",
           "bom": b'\xef\xbb\xbf{"url":"ftp://x"}', "utf16": '{"url":"ftp://x"}'.encode("utf-16"),
           "100 kB (over the route's 16 KiB)": b'{"url":"http://example.com/a.jpg","pad":"' + b"x" * 100_000 + b'"}'}
    cases = [Case(f"json {name}", "POST", "/api/caption-url", {"content": body, "headers": {"content-type": "application/json"}})
             for name, body in raw.items()]
    objects = {"no url": {}, "url null": {"url": None}, "url number": {"url": 5}, "url list": {"url": ["http://a"]},
               "url object": {"url": {"a": 1}}, "url too long": {"url": "http://example.com/" + "a" * 3000},
               "beam 0": {"url": "http://example.com/a.jpg", "beam_size": 0},
               "beam string": {"url": "http://example.com/a.jpg", "beam_size": "five"},
               "max_length 500": {"url": "http://example.com/a.jpg", "max_length": 500},
               "grounding string": {"url": "http://example.com/a.jpg", "grounding": "perhaps"},
               "extra fields": {"url": "ftp://x", "admin": True, "__proto__": {"x": 1}}}
    cases += [Case(f"json {name}", "POST", "/api/caption-url", {"json": body}) for name, body in objects.items()]
    return cases


HOSTILE_URLS = [
    "http://127.0.0.1/", "http://127.1/", "http://0/", "http://0.0.0.0/", "http://localhost/", "http://LOCALHOST./",
    "http://2130706433/", "http://0x7f000001/", "http://017700000001/", "http://0x7f.0.0.1/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:127.0.0.1]/", "http://[fe80::1]/",
    "http://[fc00::1]/", "http://[fec0::1]/", "http://[2002:a9fe:a9fe::1]/", "http://[2002:a00:1::1]/",
    "http://[64:ff9b::a00:1]/", "http://[2001::1]/", "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/", "http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://100.64.0.1/", "http://224.0.0.1/", "http://255.255.255.255/", "http://[::]/",
    "file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://example.com/a.jpg", "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)", "dict://127.0.0.1:11211/", "http://user:pass@example.com/a.jpg", "http://example.com:99999/",
    "http://example.com:-1/", "http://example.com:abc/", "http://[::1/", "http://[127.0.0.1]/", "http://[zz]/", "http://]/",
    "http://é..com/", "http://" + "é" * 64 + ".com/", "http:///a.jpg", "http://", "//example.com/a.jpg", "example.com/a.jpg",
    "http://example.com/\r\nHost: evil", "http://exa mple.com/", "http://example.com/%00", "HTTP://127.0.0.1/",
    "http://a" + ".a" * 200 + "/", "", " ", "http://\u3002127.0.0.1/", "http://127.0.0.1\u3002/", "http://①②⑦.0.0.1/",
]


def _urls(host: str | None) -> list[Case]:
    urls = list(HOSTILE_URLS)
    if host:
        urls += [f"{host}/{p}" for p in ("to-private", "to-metadata", "missing.jpg", "page.html", "huge.jpg",
                                          "huge-declared.jpg", "gzip-bomb.jpg", "brotli.jpg", "drip-headers.jpg",
                                          "hop/9", "slow.jpg", "stacked/2000", "redirect-to/javascript%3Aalert(1)",
                                          "redirect-to/data%3Aimage%2Fpng%3Bbase64%2CAAAA", "redirect-to/http%3Aimage",
                                          "redirect-to/mailto%3Aa%40b.c", "redirect-to/about%3Ablank")]
    cases = [Case(f"url {u[:40]!r}", "POST", "/api/caption-url", {"json": {"url": u}}) for u in urls]
    cases += [Case(f"page url {u[:40]!r}", "POST", "/", {"data": {"url": u}}) for u in urls[::4]]
    return cases


def _paths() -> list[Case]:
    gets = ["/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc/passwd",
            "/static/style.css%00.js", "/docs-static/../../pyproject.toml", "/%2e%2e/", "/api/caption", "/api/nothing",
            "/" + "a" * 8000, "/?q=" + "<script>" * 100, "/api/health?x=" + "%" * 50]
    cases = [Case(f"get {p[:40]!r}", "GET", p) for p in gets]
    cases += [Case(f"{m} {p}", m, p) for m in ("PUT", "DELETE", "PATCH") for p in ("/api/caption", "/")]
    cases += [Case("options /api/caption", "OPTIONS", "/api/caption"), Case("head /", "HEAD", "/"),
              Case("head /api/health", "HEAD", "/api/health"), Case("get /favicon.ico", "GET", "/favicon.ico")]
    return cases


def attack_corpus(photo: bytes, host: str | None = None, seed: int = 0) -> list[Case]:
    """Every case, built from one real JPEG `photo`; `host`: the tests' local image server, if any."""
    rng = random.Random(seed)
    return _uploads(_images(photo, rng)) + _parameters(photo) + _json_bodies() + _urls(host) + _paths()
