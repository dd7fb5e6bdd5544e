"""Fetch an image by URL without letting the URL reach into our own network.

Rules: http/https only; every address the host resolves to must be public (no loopback, private,
link-local, multicast, reserved or unspecified, IPv4-mapped IPv6 included); the connection goes to
the address we checked (no second DNS lookup to rebind); redirects are followed by hand, at most
three, each checked again; connect/read timeouts and one deadline for the whole fetch, headers
included (a server dripping a byte at a time cannot hold a worker); reading stops past a size
limit, and a compressed body (gzip/deflate, nested too) is inflated by us, never past that limit.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from captioner.errors import ImageError


@dataclass(frozen=True)
class FetchPolicy:
    """How an image URL may be fetched (also `captioner serve --fetch-*` flags)."""

    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0  # a slow drip of bytes cannot hold a worker longer than this
    allow_loopback: bool = False  # tests only: lets a local test server be fetched

class FetchError(ImageError):
    """An image URL that cannot be fetched safely; an ImageError, so one handler answers both.
    The reason is "invalid" unless a refusal says otherwise."""

    def __init__(self, message: str, reason: str = "invalid"):
        super().__init__(message, reason)


def refusal(address: str, allow_loopback: bool = False) -> str | None:
    """Why this IP address may not be fetched, or None if it may."""
    ip = ipaddress.ip_address(address)  # "fe80::1%eth0" too: the zone is kept apart from the address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:  # fec0::/10, deprecated but still routed inside some networks
            return "site-local"
        embedded = ip.ipv4_mapped or ip.sixtofour  # ::ffff:a.b.c.d and 6to4 2002:AABB:CCDD::
        if embedded is not None:
            ip = embedded
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for kind in ("private", "multicast", "reserved", "unspecified"):  # link-local is within private
        if getattr(ip, f"is_{kind}"):
            return kind
    if not ip.is_global:
        return "non-public"
    return None


def resolve_checked(host: str, allow_loopback: bool) -> str:
    """Resolve `host` and return an address to connect to, refusing if any address is not public."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise FetchError(f"cannot resolve host {host!r}") from None
    addresses = sorted({info[4][0] for info in infos})  # one per address, whatever the socket types
    for address in addresses:
        why = refusal(address, allow_loopback)
        if why:
            raise FetchError(f"refused: {host} resolves to a {why} address ({address})", "forbidden")
    return addresses[0]


def _check_url(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs are allowed, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise FetchError("URL has no host")
    if parts.username or parts.password:
        raise FetchError("URLs with credentials are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError("URL has an invalid port") from None
    return parts.scheme, parts.hostname, port


def _pinned(url: str, address: str, port: int) -> tuple[str, str]:
    """(the URL with its host replaced by the checked address, the Host header naming the host given)."""
    parts = urlsplit(url)
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    host_header = parts.netloc.rpartition("@")[2]  # "http://@host/" passes the credentials check
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header


def _time_left(deadline: float, timeout: float | None, expired: type[Exception]) -> float:
    """The timeout for the next network operation: at most what is left before `deadline`."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the fetch ran past its total time limit")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write stops at one deadline (headers and body alike)."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self.stream, self.deadline = stream, deadline

    def _left(self, timeout: float | None) -> float:
        return _time_left(self.deadline, timeout, httpcore.ReadTimeout)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self._left(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, self._left(timeout)), self.deadline)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def __init__(self, deadline: float):
        self.deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _time_left(self.deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options), self.deadline)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport with a connection pool whose connections share one deadline."""

    def __init__(self, deadline: float):
        super().__init__(trust_env=False)  # SSL_CERT_FILE and the like are the server's environment, not ours
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),  # pragma: no mutate - None is httpcore's same default
            network_backend=_DeadlineBackend(deadline))


# Header names are case-insensitive (mutating their case is no bug); the tests check every value.
_HEADERS = {"Accept": "image/*", "User-Agent": "captioner", "Accept-Encoding": "identity"}  # pragma: no mutate
_INFLATE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


MAX_CODINGS = 3  # content codings undone per body; real servers send one


def inflate(body: bytes, encodings: str, limit: int) -> bytes:
    """Undo Content-Encoding (e.g. "gzip, gzip": applied in that order) without ever holding more than
    `limit` + 1 decoded bytes; FetchError 413 past the limit, 415 for an unknown coding or more than
    MAX_CODINGS of them (each layer costs a pass over the body), 422 if corrupt."""
    codings = [c.strip().lower() for c in encodings.split(",", MAX_CODINGS + 1) if c.strip()]
    if len(codings) > MAX_CODINGS:
        raise FetchError(f"more than {MAX_CODINGS} content codings", "unsupported")
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in _INFLATE:
            raise FetchError(f"unsupported content encoding {coding[:20]!r}", "unsupported")
        if coding == "deflate" and body and (body[0] & 0x0F) != 8:
            wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header, as some servers send
        else:
            wbits = _INFLATE[coding]
        try:
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            raise FetchError(f"corrupt {coding} body", "unreadable") from None
        if len(out) > limit:
            raise FetchError(f"image decompresses to more than {limit:,} bytes", "too_large")
        body = out
    return body


def fetch_image_bytes(url: str, policy: FetchPolicy = FetchPolicy()) -> tuple[bytes, str]:
    """GET `url` under `policy`; returns (body, content type). Raises FetchError with a 4xx status."""
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    deadline = time.monotonic() + policy.total_timeout
    transport = _DeadlineTransport(deadline)
    # follow_redirects=False is httpx's default, and trust_env is moot with our own transport: said anyway
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport) as client:  # pragma: no mutate
        for _ in range(policy.max_redirects + 1):
            try:
                _, host, port = _check_url(url)
                address = resolve_checked(host, policy.allow_loopback)
                pinned, host_header = _pinned(url, address, port)
                headers = {"Host": host_header, **_HEADERS}  # pragma: no mutate - a header name's case
                with client.stream("GET", pinned, headers=headers,  # pragma: no mutate - httpx upper-cases "get"
                                   extensions={"sni_hostname": host}) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError("redirect without a Location header")
                        url = urljoin(url, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"the image URL answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise FetchError(f"image is larger than {policy.max_bytes:,} bytes", "too_large")
                    body = bytearray()
                    for chunk in response.iter_raw():  # still compressed: inflated below, within the limit
                        body.extend(chunk)
                        if len(body) > policy.max_bytes:  # every read stops at the deadline (_DeadlineStream)
                            raise FetchError(f"image is larger than {policy.max_bytes:,} bytes", "too_large")
                    body = inflate(bytes(body), response.headers.get("content-encoding", ""), policy.max_bytes)
                    return body, response.headers.get("content-type", "")
            except httpx.TimeoutException:
                raise FetchError("the image URL timed out", "timeout") from None
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as exc:
                # a refused connection, a failed TLS handshake; a Location httpx cannot even build a request
                # for (javascript:, data:, "http:image"): every error of the HTTP client is the URL's fault
                raise FetchError(f"cannot fetch the image URL ({type(exc).__name__})") from None
            except ValueError as exc:  # urlsplit and IDNA (UnicodeError) on "http://[::1/" and the like
                raise FetchError(f"malformed URL ({str(exc)[:80]})") from None
    raise FetchError(f"too many redirects (more than {policy.max_redirects})")
