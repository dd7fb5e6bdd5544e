"""The guards in front of the app, on a bare ASGI app (no model): framing and size refusals with their
exact answers, the body deadline, the security headers, and the protocol that closes silent connections."""

import asyncio
import json
import socket
import time

import pytest

from captioner.serving.guards import DOCS_POLICY, PAGE_POLICY, RequestGuard, guarded_protocol
from tests.serving.asgi_client import post, response_body

LIMIT = 1000


class EchoApp:
    """Reads the whole body, then answers 200 with its length; records what it saw."""

    def __init__(self, headers=(), read_after_body: bool = False, fail_with: Exception | None = None):
        self.headers, self.read_after_body, self.fail_with = list(headers), read_after_body, fail_with
        self.calls, self.messages = 0, []

    async def __call__(self, scope, receive, send):
        self.calls += 1
        if scope["type"] != "http":
            self.messages.append(scope["type"])
            return
        size = 0
        while True:
            message = await receive()
            self.messages.append(message["type"])
            if message["type"] == "http.disconnect":
                if self.read_after_body:
                    self.messages.append((await receive())["type"])  # asking again after a refusal
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if self.read_after_body and self.messages[-1] == "http.request":
            self.messages.append((await receive())["type"])  # e.g. is_disconnected() after the body
        if self.fail_with is not None:
            raise self.fail_with
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")] + self.headers})
        await send({"type": "http.response.body", "body": str(size).encode()})


async def _call(app, headers, chunks, delay=0.0, path="/api/caption", after=0.0):
    """One POST through the guarded app: (status, body, header dict, chunks the app pulled)."""
    sent, pulled = await post(RequestGuard(app, max_body=LIMIT, body_timeout=0.3), headers, chunks, delay, after, path)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent  # one answer, never two
    return starts[0]["status"], response_body(sent), starts[0]["headers"], pulled


def run(*args, **kwargs):
    return asyncio.run(_call(*args, **kwargs))


@pytest.mark.parametrize("headers, status, message", [
    ([(b"content-length", b"4"), (b"transfer-encoding", b"chunked")], 400,
     "a request may not have both Content-Length and Transfer-Encoding"),
    ([(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"4")], 400,
     "a request may not have both Content-Length and Transfer-Encoding"),  # names in any case
    ([(b"content-length", b"4"), (b"Content-Length", b"4")], 400, "more than one Content-Length header"),
    ([(b"content-length", b"-1")], 400, "invalid Content-Length header"),
    ([(b"content-length", b"1e3")], 400, "invalid Content-Length header"),
    ([(b"content-length", b"1001")], 413, "request body is larger than 1,000 bytes"),
])
def test_framing_and_declared_size_are_refused_before_the_app_runs(headers, status, message):
    app = EchoApp()
    got_status, body, answer_headers, pulled = run(app, headers, [b"abcd"])
    assert (got_status, json.loads(body)) == (status, {"detail": message})
    assert app.calls == 0 and pulled == 0
    answer = dict(answer_headers)
    assert answer[b"content-type"] == b"application/json" and answer[b"connection"] == b"close"
    assert answer[b"content-length"] == str(len(body)).encode()
    assert answer[b"content-security-policy"] == PAGE_POLICY.encode() and answer[b"x-frame-options"] == b"DENY"


def test_a_body_of_exactly_the_limit_passes_declared_or_streamed():
    chunks = [b"x" * 400, b"x" * 400, b"x" * 200]
    assert run(EchoApp(), [(b"content-length", b" 1000 ")], chunks)[:2] == (200, b"1000")
    assert run(EchoApp(), [(b"transfer-encoding", b"chunked")], chunks)[:2] == (200, b"1000")


def test_a_streamed_body_over_the_limit_is_cut_as_it_arrives():
    app = EchoApp(read_after_body=True)
    chunks = [b"x" * 400] * 10
    status, body, _, pulled = run(app, [(b"transfer-encoding", b"chunked")], chunks)
    assert (status, json.loads(body)) == (413, {"detail": "request body is larger than 1,000 bytes"})
    assert pulled == 3  # 1,200 bytes: the third chunk crossed the limit, nothing more was read
    assert app.messages == ["http.request", "http.request", "http.disconnect", "http.disconnect"]


def test_the_apps_own_answer_to_a_refused_body_is_replaced_and_its_error_swallowed():
    chunks = [b"x" * 600] * 2
    status, body, _, _ = run(EchoApp(), [], chunks)  # the app answers 200 after the disconnect: replaced
    assert status == 413 and b"larger than" in body
    status, body, _, _ = run(EchoApp(fail_with=RuntimeError("client went away")), [], chunks)
    assert status == 413 and b"larger than" in body


def test_an_error_of_the_app_itself_is_not_hidden():
    with pytest.raises(RuntimeError, match="a bug"):
        run(EchoApp(fail_with=RuntimeError("a bug")), [], [b"ok"])


def test_a_body_that_trickles_in_is_cut_at_the_deadline():
    started = time.monotonic()
    status, body, _, pulled = run(EchoApp(), [], [b"x"] * 100, delay=0.05)
    assert (status, json.loads(body)) == (408, {"detail": "the request body did not arrive within 0.3 s"})
    assert time.monotonic() - started < 1.5 and pulled < 10


def test_reads_after_the_body_are_not_timed():
    app = EchoApp(read_after_body=True)  # waits for the client's disconnect, as is_disconnected() does
    status, body, _, _ = run(app, [], [b"abc"], after=0.6)  # twice the body deadline
    assert (status, body) == (200, b"3") and app.messages == ["http.request", "http.disconnect"]


def test_other_scopes_pass_through_untouched():
    app = EchoApp()
    received = []

    async def lifespan():
        async def receive():
            return {"type": "lifespan.startup"}

        async def send(message):
            received.append(message)

        await RequestGuard(app, LIMIT, 0.3)({"type": "lifespan"}, receive, send)

    asyncio.run(lifespan())
    assert app.messages == ["lifespan"] and received == []


def test_security_headers_are_added_once_and_the_apps_own_are_kept():
    _, _, headers, _ = run(EchoApp(), [], [b""])
    answer = dict(headers)
    assert answer[b"x-content-type-options"] == b"nosniff" and answer[b"referrer-policy"] == b"no-referrer"
    assert answer[b"cross-origin-opener-policy"] == b"same-origin" and answer[b"x-frame-options"] == b"DENY"
    assert answer[b"content-security-policy"] == PAGE_POLICY.encode()
    _, _, headers, _ = run(EchoApp(), [], [b""], path="/docs/oauth")
    assert dict(headers)[b"content-security-policy"] == DOCS_POLICY.encode()
    own = [(b"X-Frame-Options", b"SAMEORIGIN"), (b"Content-Security-Policy", b"default-src 'none'")]
    _, _, headers, _ = run(EchoApp(headers=own), [], [b""])
    names = [name.lower() for name, _ in headers]
    assert names.count(b"x-frame-options") == 1 and names.count(b"content-security-policy") == 1
    assert (b"X-Frame-Options", b"SAMEORIGIN") in headers and b"nosniff" in dict(headers).values()


# ----- the protocol: a deadline on every request head -----
async def _health(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(scope="module")
def quick_server():
    from captioner.serving.settings import ServeSettings
    from tests.conftest import running_server

    with running_server(_health, ServeSettings(header_timeout=1.5, keep_alive=5.0)) as port:
        yield port


def _open_after(port: int, seconds: float, send: bytes = b"", drip: float = 0.0) -> bool:
    """Whether a connection to `port` is still open `seconds` after connecting (sending `send`)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.05)
        deadline = time.monotonic() + seconds
        data = b""
        for i in range(len(send)):
            try:
                sock.sendall(send[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return False
            time.sleep(drip)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return False
            if chunk == b"":
                return False
            data += chunk
        return True


def test_a_silent_connection_is_closed_at_the_head_deadline(quick_server):
    assert _open_after(quick_server, 0.7)  # not before
    assert not _open_after(quick_server, 3.5)


def test_a_head_that_drips_in_is_cut_but_a_prompt_one_is_answered(quick_server):
    head = b"GET /x HTTP/1.1\r\nHost: a\r\n" + b"X-Pad: " + b"a" * 45 + b"\r\n\r\n"
    assert not _open_after(quick_server, 5.0, head, drip=0.05)  # 3.7 s to send a head: closed
    with socket.create_connection(("127.0.0.1", quick_server), timeout=2) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert _answer(sock).startswith(b"HTTP/1.1 200")


def test_a_kept_alive_connection_gets_a_new_head_deadline_after_each_answer(quick_server):
    with socket.create_connection(("127.0.0.1", quick_server), timeout=2) as sock:
        for _ in range(3):  # three requests 0.6 s apart: each within its own deadline, 1.8 s in all
            time.sleep(0.6)
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            assert _answer(sock).startswith(b"HTTP/1.1 200")
        sock.settimeout(3)
        started = time.monotonic()
        assert sock.recv(4096) == b""  # then silence: closed at the head deadline, not keep-alive's 5 s
        assert time.monotonic() - started < 3.5


def test_the_protocol_class_carries_its_deadline():
    protocol = guarded_protocol(2.5)
    assert protocol.header_timeout == 2.5 and protocol.__name__ == "GuardedH11Protocol"


def test_idle_sockets_over_the_connection_cap_do_not_starve_real_requests():
    """More silent sockets than the cap (uvicorn answers 503 at the cap): once half the cap is open,
    idle connections get a one-second head deadline and a newcomer sheds those idle that long."""
    from captioner.serving.settings import ServeSettings
    from tests.conftest import running_server

    with running_server(_health, ServeSettings(header_timeout=30.0, max_connections=40)) as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(41)]
        try:
            time.sleep(1.3)  # older than the crowded deadline
            answered = []
            for _ in range(10):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
                    answered.append(_answer(sock)[:12])
            assert answered.count(b"HTTP/1.1 200") >= 9, answered
        finally:
            for sock in idle:
                sock.close()
