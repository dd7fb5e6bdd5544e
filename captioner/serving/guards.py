"""Guards around the web app that act before a handler runs.

`RequestGuard` (ASGI middleware): refuses a request that declares both Content-Length and
Transfer-Encoding (400, a smuggling risk behind a proxy), a declared or streamed body over the
limit (413, counted as it arrives, so nothing over the limit reaches memory or disk) and a body
that takes too long (408); adds security headers to every answer.

`guarded_protocol` (uvicorn): an HTTP/1.1 protocol that closes a connection whose request head is
not complete within `header_timeout` seconds of connecting (or of its previous answer): idle and
header-dripping connections (slowloris) cannot pile up; once half the connection cap is open, idle
connections get one second, the ones already idle that long are closed, and at the cap a newcomer
closes the longest-idle ones.
"""

from __future__ import annotations

import json
import time

import anyio
from uvicorn.protocols.http.h11_impl import H11Protocol

# img-src http: https: lets the page show a photo captioned by its URL (and draw its heat maps over it); no
# script, style or connection may come from elsewhere
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob: http: https:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin")]


class RequestGuard:
    def __init__(self, app, max_body: int, body_timeout: float, route_limits: dict[str, int] | None = None):
        """route_limits: smaller body limits for some paths (a JSON request that is never more than a
        few kB is refused long before it could be parsed for seconds on the event loop)."""
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout
        self.route_limits = route_limits or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        names = [name.lower() for name, _ in scope.get("headers", [])]
        values = {name.lower(): value for name, value in scope.get("headers", [])}
        if b"content-length" in names and b"transfer-encoding" in names:
            return await _refuse(send, 400, "a request may not have both Content-Length and Transfer-Encoding")
        if names.count(b"content-length") > 1:
            return await _refuse(send, 400, "more than one Content-Length header")
        limit = self.route_limits.get(scope.get("path", ""), self.max_body)
        if b"content-length" in values:
            declared = values[b"content-length"].strip()
            if not declared.isdigit():
                return await _refuse(send, 400, "invalid Content-Length header")
            if int(declared) > limit:
                return await _refuse(send, 413, f"request body is larger than {limit:,} bytes")
        docs = scope.get("path", "").startswith("/docs")
        refused: tuple[int, str] | None = None
        body_done, received, started = False, 0, False
        deadline = time.monotonic() + self.body_timeout

        async def guarded_receive():
            nonlocal refused, body_done, received
            if refused is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()  # later reads (is_disconnected) are not timed
            try:
                with anyio.fail_after(max(deadline - time.monotonic(), 0.001)):
                    message = await receive()
            except TimeoutError:
                refused = (408, f"the request body did not arrive within {self.body_timeout:g} s")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    refused = (413, f"request body is larger than {limit:,} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused is not None and not started:
                return  # the app's answer to a refused body is replaced by the refusal below
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _with_security_headers(message.get("headers", []), docs)}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await _refuse(send, *refused)


def _with_security_headers(headers, docs: bool) -> list:
    present = {name.lower() for name, _ in headers}
    extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
    if b"content-security-policy" not in present:
        extra.append((b"content-security-policy", (DOCS_POLICY if docs else PAGE_POLICY).encode()))
    return list(headers) + extra


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": _with_security_headers(headers, False)})
    await send({"type": "http.response.body", "body": body})


class _GuardedH11(H11Protocol):
    header_timeout = 10.0
    max_connections = 200  # uvicorn's limit_concurrency: at it, every request gets 503
    crowded_share = 0.5  # from this share of max_connections on, idle connections get `crowded_timeout`
    crowded_timeout = 1.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_timer = None
        self._idle_since = self.loop.time()
        self._arm()
        if self._crowded():
            self._shed_idle()

    def _crowded(self) -> bool:
        return len(self.server_state.connections) >= self.crowded_share * self.max_connections

    def _shed_idle(self) -> None:
        """Close the connections that have waited longer than `crowded_timeout` without a request head,
        and at the cap the longest-idle ones until there is room for this one: sockets that send
        nothing cannot hold the connection cap against everyone else."""
        now = self.loop.time()
        idle = sorted((c for c in self.server_state.connections
                       if c is not self and isinstance(c, _GuardedH11) and c._waiting_for_head()
                       and not c.transport.is_closing()), key=lambda c: c._idle_since)
        over = len(self.server_state.connections) - self.max_connections + 1  # to close for a free slot
        for k, connection in enumerate(idle):
            if k < over or now - connection._idle_since >= self.crowded_timeout:
                connection._disarm()
                connection.transport.close()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._idle_since = self.loop.time()
            timeout = self.crowded_timeout if self._crowded() else self.header_timeout
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm()
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # uvicorn's keep-alive timer closes an idle connection
        if self._waiting_for_head() and not self.transport.is_closing():
            self._disarm()
            self._arm()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float, max_connections: int = _GuardedH11.max_connections) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on every request head (pass as uvicorn's `http=`); once
    half of `max_connections` are open, the deadline of an idle connection is `crowded_timeout`."""
    return type("GuardedH11Protocol", (_GuardedH11,), {"header_timeout": header_timeout,
                                                        "max_connections": max_connections})
