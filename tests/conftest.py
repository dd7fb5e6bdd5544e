"""Shared fixtures: the real Flickr8k and coco-dev copies beside the project, the shipped model, and a local image host."""

from __future__ import annotations

import gzip
import os
import socket
from contextlib import contextmanager
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CAPTIONER_CI") == "1"  # set by .ci/run: there nothing may be skipped


def needs(available: bool, what: str) -> None:
    """Skip with a reason when `what` is missing here; fail in CI, which installs everything."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
    pytest.skip(f"{what} is missing (CI installs it)")
FLICKR = Path(os.environ.get("CAPTIONER_DATASET", ROOT.parent / "shared" / "data" / "flickr8k"))
COCO_DEV = Path(os.environ.get("CAPTIONER_COCO_DEV", ROOT.parent / "shared" / "data" / "coco-dev"))
COCO_TRAIN = Path(os.environ.get("CAPTIONER_COCO_TRAIN", ROOT.parent / "shared" / "data" / "coco-train"))


@pytest.fixture(scope="session")
def flickr_root() -> Path:
    needs((FLICKR / "Flickr8k.token.txt").is_file(), f"Flickr8k at {FLICKR} (set CAPTIONER_DATASET)")
    return FLICKR


@pytest.fixture(scope="session")
def flickr_images(flickr_root: Path) -> list[Path]:
    """A few real test-split photos: two dogs and one other scene, stable across runs."""
    names = (flickr_root / "Flickr_8k.testImages.txt").read_text().split()
    return [flickr_root / "images" / n for n in names[:6]]


@pytest.fixture(scope="session")
def coco_dev() -> Path:
    """The 169 everyday COCO photos with their captions (set CAPTIONER_COCO_DEV to move it)."""
    needs((COCO_DEV / "captions.json").is_file(), f"coco-dev at {COCO_DEV} (set CAPTIONER_COCO_DEV)")
    return COCO_DEV


@pytest.fixture(scope="session")
def coco_train() -> Path:
    """The 1,477 captioned COCO photos for training (set CAPTIONER_COCO_TRAIN to move it)."""
    needs((COCO_TRAIN / "captions.json").is_file(), f"coco-train at {COCO_TRAIN} (set CAPTIONER_COCO_TRAIN)")
    return COCO_TRAIN


@contextmanager
def running_server(app, settings=None, log_level: str = "warning"):
    """Serve `app` with uvicorn on a free 127.0.0.1 port, under the service's bounds (the guarded
    protocol), in a thread; yields the port once /api/health answers."""
    import httpx
    import uvicorn

    from captioner.serving.server import server_config
    from captioner.serving.service import ServeSettings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings or ServeSettings(), port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def shipped_captioner():
    """The shipped default model with grounding, loaded once for the tests that only read it."""
    from captioner.export.loading import load_captioner

    return load_captioner()


# ----- a local HTTP server on 127.0.0.1 that plays the roles a hostile or slow image host can take -----
class ImageHost(BaseHTTPRequestHandler):
    photo: bytes = b""
    _bomb: bytes = b""
    seen_headers: dict = {}  # the request headers of the last /echo-headers.jpg

    @classmethod
    def bomb(cls) -> bytes:
        if not cls._bomb:
            cls._bomb = gzip.compress(gzip.compress(bytes(64 * 1024 * 1024), 9), 9)
        return cls._bomb

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, content_type: str, extra: dict | None = None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server API
        path = self.path
        if path == "/photo.jpg":
            self._send(200, self.photo, "image/jpeg")
        elif path == "/echo-headers.jpg":
            ImageHost.seen_headers = dict(self.headers.items())
            self._send(200, self.photo, "image/jpeg")
        elif path == "/no-location":
            self._send(302, b"", "text/plain")
        elif path == "/bad-request":
            self._send(400, b"no", "text/plain")

        elif path == "/photo-no-type":
            self._send(200, self.photo, "application/octet-stream")
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            target = "/photo.jpg" if left == 0 else f"/hop/{left - 1}"
            self._send(302, b"", "text/plain", {"Location": target})
        elif path.startswith("/redirect-to/"):  # a Location the server chooses, e.g. javascript:alert(1)
            from urllib.parse import unquote

            self._send(302, b"", "text/plain", {"Location": unquote(path[len("/redirect-to/"):])})
        elif path.startswith("/stacked/"):  # Content-Encoding "gzip, gzip, ..." N times over an image
            from gzip import compress

            count = int(path.rsplit("/", 1)[1])
            self._send(200, compress(self.photo), "image/jpeg", {"Content-Encoding": ", ".join(["gzip"] * count)})
        elif path == "/to-private":
            self._send(302, b"", "text/plain", {"Location": "http://10.1.2.3/photo.jpg"})
        elif path == "/to-metadata":
            self._send(301, b"", "text/plain", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/page.html":
            self._send(200, b"<html><body>not an image</body></html>", "text/html")
        elif path == "/missing.jpg":
            self._send(404, b"nope", "text/plain")
        elif path == "/slow.jpg":
            time.sleep(3)
            try:
                self._send(200, self.photo, "image/jpeg")
            except (BrokenPipeError, ConnectionResetError):  # the client gave up first, as it should
                pass
        elif path == "/huge.jpg":  # no Content-Length: the size limit must cut the stream
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b"\xff" * (256 * 1024))
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/gzip.jpg":  # the photo, gzip-encoded by the server
            self._send(200, gzip.compress(self.photo), "image/jpeg", {"Content-Encoding": "gzip"})
        elif path == "/gzip-bomb.jpg":  # 64 MiB of zeros, gzip inside gzip: a few kB on the wire
            self._send(200, ImageHost.bomb(), "image/jpeg", {"Content-Encoding": "gzip, gzip"})
        elif path == "/brotli.jpg":
            self._send(200, b"not really brotli", "image/jpeg", {"Content-Encoding": "br"})
        elif path == "/drip-headers.jpg":  # one header byte every 0.3 s for up to 30 s
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                self.wfile.flush()
                for _ in range(100):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif path == "/drip-body.jpg":  # headers at once, then one body byte every 0.3 s
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(self.photo)))
            self.end_headers()
            try:
                for byte in self.photo[:100]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif path == "/bad-location":
            self._send(302, b"", "text/plain", {"Location": "http://[::1/x.jpg"})
        elif path == "/no-type.jpg":  # no Content-Type header at all
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.photo)))
            self.end_headers()
            self.wfile.write(self.photo)
        elif path == "/no-type-text":  # no Content-Type and no image either
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")
        elif path == "/huge-declared.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
        else:
            self._send(404, b"", "text/plain")


@pytest.fixture(scope="session")
def image_host(flickr_images):
    ImageHost.photo = flickr_images[0].read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
