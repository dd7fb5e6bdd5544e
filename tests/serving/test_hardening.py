"""The web service under hostile requests: body limits, smuggling, slow clients, a full queue,
security headers, the form's errors, and decoding kept off the event loop."""

import asyncio
import re
import socket
import threading
import time

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from captioner.runtime.options import CaptionOptions
from captioner.serving.refusals import RequestRefused
from captioner.serving import pictures
from captioner.serving.app import create_app
from captioner.serving.service import CaptionService, ClientGone, ServeSettings
from captioner.runtime.data.fetch import FetchPolicy
from tests.conftest import running_server
from tests.serving.asgi_client import post, response_body

CAP = 1024 * 1024


@pytest.fixture(scope="module")
def app(shipped_captioner):
    return create_app(captioner=shipped_captioner, settings=ServeSettings(max_upload_bytes=CAP, body_timeout=1.0,
                                                                          fetch=FetchPolicy(allow_loopback=True)))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


async def _asgi(app, headers: list[tuple[bytes, bytes]], chunks, delay: float = 0.0):
    """Send one POST /api/caption through the ASGI app; returns (status, body, chunks the app pulled)."""
    sent, pulled = await post(app, headers, chunks, delay, after=3600)  # the client keeps the connection open
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], response_body(sent), pulled, dict(start["headers"])


MULTIPART = [(b"content-type", b"multipart/form-data; boundary=XyZ")]


def _multipart_chunks(total: int, size: int = 64 * 1024):
    head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    return [head] + [b"\xff" * size] * (total // size)


def test_streamed_body_over_the_cap_is_refused_as_it_arrives(app):
    chunks = _multipart_chunks(30 * CAP)  # 30 MiB, chunked (no Content-Length)
    status, body, pulled, _ = asyncio.run(_asgi(app, MULTIPART + [(b"transfer-encoding", b"chunked")], chunks))
    assert status == 413 and b"larger than" in body
    assert pulled <= CAP // (64 * 1024) + 3  # stopped reading just past the cap, not 480 chunks later


def test_declared_body_over_the_cap_is_refused_before_reading(app):
    status, _, pulled, _ = asyncio.run(_asgi(app, MULTIPART + [(b"content-length", str(30 * CAP).encode())],
                                             _multipart_chunks(30 * CAP)))
    assert status == 413 and pulled == 0


@pytest.mark.parametrize("headers", [
    [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")],
    [(b"content-length", b"10"), (b"content-length", b"12")],
    [(b"content-length", b"-1")],
    [(b"content-length", b"1e3")],
])
def test_ambiguous_framing_is_refused(app, headers):
    status, _, pulled, _ = asyncio.run(_asgi(app, MULTIPART + headers, [b"0123456789"]))
    assert status == 400 and pulled == 0


def test_a_body_that_trickles_in_is_cut_at_the_body_timeout(app):
    started = time.monotonic()
    status, body, _, _ = asyncio.run(_asgi(app, MULTIPART, _multipart_chunks(CAP // 2, 1024), delay=0.05))
    assert status == 408 and b"did not arrive" in body
    assert time.monotonic() - started < 5


def test_security_headers_and_docs_without_a_cdn(client):
    page = client.get("/")
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert name in page.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert docs.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert links and all(link.startswith(("/", "http://testserver/")) for link in links)  # nothing from a CDN
    assert "<script>" not in docs.text  # no inline script: the page's CSP allows none
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/docs.js").status_code == 200
    assert "x-frame-options" in client.get("/api/health").headers


def test_bad_form_options_give_the_page_with_an_error(client, flickr_images):
    photo = flickr_images[0].read_bytes()
    r = client.post("/", files={"file": ("a.jpg", photo, "image/jpeg")}, data={"beam_size": "11"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "beam_size" in r.text and "less than or equal to 10" in r.text
    assert client.post("/api/caption", files={"file": ("a.jpg", photo)}, data={"beam_size": "11"}).json()["detail"]


def test_page_pictures_are_made_off_the_event_loop(client, flickr_images, monkeypatch):
    on_loop = []
    real = pictures.page_pictures

    def spy(data, attention):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(data, attention)

    monkeypatch.setattr(pictures, "page_pictures", spy)
    r = client.post("/", files={"file": ("a.jpg", flickr_images[1].read_bytes(), "image/jpeg")})
    assert r.status_code == 200 and "data:image/jpeg;base64," in r.text
    assert on_loop == [False]


def test_a_full_queue_answers_busy_and_a_gone_client_is_not_computed(shipped_captioner, flickr_images):
    service = CaptionService(shipped_captioner, ServeSettings(max_queue=1))
    photos = [p.read_bytes() for p in flickr_images[:3]]

    async def scenario():
        outcomes = []

        async def one(data, gone=False):
            async def disconnected():
                return gone
            try:
                outcomes.append(("ok", (await service.caption(data, CaptionOptions(beam_size=2, max_length=10, grounding=False), disconnected))["caption"]))
            except RequestRefused as exc:
                outcomes.append((exc.status_code, str(exc)))

        async with anyio.create_task_group() as group:
            group.start_soon(one, photos[0])
            await anyio.sleep(0)
            group.start_soon(one, photos[1])  # the queue (of one) is full
        await one(photos[2], gone=True)  # its client left before its turn
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[0][0] == 503 and "busy" in outcomes[0][1]
    assert outcomes[1][0] == "ok" and outcomes[1][1]
    assert outcomes[2][0] == ClientGone().status_code
    assert service.stats == {"computed": 1, "cached": 0, "dropped": 1, "busy": 1} and service.waiting == 0


@pytest.fixture(scope="module")
def live(app):
    with running_server(app, ServeSettings(header_timeout=1.0, keep_alive=1.0)) as port:
        yield port


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> bool:
    """Whether the server closes `sock` within `seconds` while we send `drip` a byte at a time."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.25)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(drip):
                sock.sendall(drip[sent:sent + 1])
                sent += 1
            data = sock.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 4"):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_slowloris_connections_are_closed(live):
    with socket.create_connection(("127.0.0.1", live)) as idle:
        assert _closed_within(idle, 4.0)  # says nothing at all
    with socket.create_connection(("127.0.0.1", live)) as dripping:
        assert _closed_within(dripping, 4.0, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200)
    assert httpx.get(f"http://127.0.0.1:{live}/api/health", timeout=5).status_code == 200  # others still served


def test_real_server_refuses_content_length_with_transfer_encoding(live):
    with socket.create_connection(("127.0.0.1", live), timeout=5) as sock:
        sock.sendall(b"POST /api/caption HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")


def test_health_answers_while_inference_runs(live, app, flickr_images, monkeypatch):
    service = app.state.service
    real = service.batcher.run_batch
    running = threading.Event()

    def slow_model(*args):  # the model's worker-thread call, made slow: the loop must stay free
        running.set()
        time.sleep(2.0)
        return real(*args)

    monkeypatch.setattr(service.batcher, "run_batch", slow_model)
    done = {}

    def upload():
        photo = flickr_images[4].read_bytes()
        done["status"] = httpx.post(f"http://127.0.0.1:{live}/api/caption", files={"file": ("a.jpg", photo)},
                                    data={"beam_size": "2"}, timeout=30).status_code

    thread = threading.Thread(target=upload)
    thread.start()
    assert running.wait(10)
    started = time.monotonic()
    health = httpx.get(f"http://127.0.0.1:{live}/api/health", timeout=10)
    answered_in = time.monotonic() - started
    assert health.status_code == 200 and health.json()["queue"] == 1  # the upload is still being computed
    assert "status" not in done and answered_in < 1.5
    thread.join()
    assert done["status"] == 200


def test_slow_image_urls_cannot_take_every_worker_thread(shipped_captioner, image_host):
    settings = ServeSettings(max_fetches=8, fetch=FetchPolicy(allow_loopback=True, total_timeout=2.0))
    app = create_app(captioner=shipped_captioner, settings=settings)
    statuses = []

    def slow_url():
        statuses.append(httpx.post(f"{base}/api/caption-url", json={"url": f"{image_host}/drip-headers.jpg"},
                                   timeout=60).status_code)

    with running_server(app, settings) as port:
        base = f"http://127.0.0.1:{port}"
        clients = [threading.Thread(target=slow_url) for _ in range(45)]  # more than anyio's 40 worker threads
        for client in clients:
            client.start()
        time.sleep(0.5)
        started = time.monotonic()
        assert httpx.get(f"{base}/static/style.css", timeout=10).status_code == 200  # files are served from threads too
        assert time.monotonic() - started < 1.0
        for client in clients:
            client.join()
        assert statuses == [408] * 45  # each one cut by the total fetch deadline, 8 at a time
