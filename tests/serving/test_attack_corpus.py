"""Every case of the attack corpus against a real server (uvicorn on 127.0.0.1, the guarded
protocol, the service's bounds): no 5xx, no reset, each answer in bounded time, and the server
still captions a real photo afterwards."""

import time

import httpx
import pytest

from captioner.serving.app import create_app
from captioner.serving.service import ServeSettings
from captioner.runtime.data.fetch import FetchPolicy
from tests.conftest import running_server
from tests.serving.attack_corpus import attack_corpus

TIME_BOUND = 10.0  # seconds per answer; the slowest cases are URLs cut by the 2 s total fetch limit


@pytest.fixture(scope="module")
def server(shipped_captioner):
    settings = ServeSettings(max_upload_bytes=4 * 1024 * 1024, body_timeout=5.0, header_timeout=5.0,
                             fetch=FetchPolicy(allow_loopback=True, read_timeout=1.0, total_timeout=2.0,
                                               max_bytes=4 * 1024 * 1024))
    app = create_app(captioner=shipped_captioner, settings=settings)
    with running_server(app, settings, log_level="critical") as port:
        yield f"http://127.0.0.1:{port}"


def test_the_whole_corpus(server, image_host, flickr_images):
    photo = flickr_images[0].read_bytes()
    cases = attack_corpus(photo, image_host)
    assert len(cases) >= 250
    failures, slow = [], []
    with httpx.Client(base_url=server, timeout=TIME_BOUND + 5) as client:
        for case in cases:
            started = time.monotonic()
            try:
                response = client.request(case.method, case.path, **case.options)
            except httpx.HTTPError as exc:  # a reset or a hang is a failure
                failures.append((case.name, type(exc).__name__))
                continue
            if response.status_code >= 500:
                failures.append((case.name, response.status_code, response.text[:120]))
            if time.monotonic() - started > TIME_BOUND:
                slow.append((case.name, round(time.monotonic() - started, 1)))
        assert not failures, failures
        assert not slow, slow
        answer = client.post("/api/caption", files={"file": ("photo.jpg", flickr_images[2].read_bytes(), "image/jpeg")})
        assert answer.status_code == 200 and len(answer.json()["caption"].split()) >= 3
