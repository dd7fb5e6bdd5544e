"""The URL guard: private addresses refused by default; real fetches against a local test server."""

import pytest

from captioner.runtime.data.fetch import FetchError, FetchPolicy, fetch_image_bytes, refusal, resolve_checked
from captioner.serving.refusals import status_of

LOOPBACK_OK = FetchPolicy(allow_loopback=True, read_timeout=1.0, max_bytes=2 * 1024 * 1024)


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "loopback"),
        ("127.5.5.5", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.8", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "private"),  # cloud metadata: link-local (Python also marks it private)
        ("fe80::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "private"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("fc00::1", "private"),
        ("2002:a9fe:a9fe::1", "private"),  # 6to4 of 169.254.169.254 (link-local, which Python counts as private)
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("fec0::1", "site-local"),
        ("64:ff9b::a00:1", "reserved"),  # NAT64
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo
    ],
)
def test_non_public_addresses_are_refused_by_default(address, why):
    assert refusal(address) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


def test_loopback_switch_allows_only_loopback():
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("::ffff:127.0.0.1", allow_loopback=True) is None
    assert refusal("10.0.0.1", allow_loopback=True) == "private"


def test_localhost_name_is_refused():
    with pytest.raises(FetchError, match="loopback") as info:
        resolve_checked("localhost", allow_loopback=False)
    assert info.value.reason == "forbidden"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x", "http:///nohost",
                                 "http://user:pw@example.com/a.jpg", "javascript:alert(1)"])
def test_only_plain_http_urls(url):
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(url)
    assert info.value.reason == "invalid"


def test_local_server_refused_without_the_switch(image_host):
    with pytest.raises(FetchError, match="loopback"):
        fetch_image_bytes(f"{image_host}/photo.jpg")


def test_real_fetch_and_redirects(image_host, flickr_images):
    body, content_type = fetch_image_bytes(f"{image_host}/photo.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes() and content_type == "image/jpeg"
    body, _ = fetch_image_bytes(f"{image_host}/hop/2", LOOPBACK_OK)  # 3 redirects: allowed
    assert body == flickr_images[0].read_bytes()
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_image_bytes(f"{image_host}/hop/3", LOOPBACK_OK)


@pytest.mark.parametrize("path, status, message", [
    ("/to-private", "forbidden", "private"),
    ("/to-metadata", "forbidden", "169.254.169.254"),
    ("/missing.jpg", "invalid", "HTTP 404"),
    ("/slow.jpg", "timeout", "timed out"),
    ("/huge.jpg", "too_large", "larger than"),
    ("/huge-declared.jpg", "too_large", "larger than"),
])
def test_hostile_responses_are_refused(image_host, path, status, message):
    with pytest.raises(FetchError, match=message) as info:
        fetch_image_bytes(f"{image_host}{path}", LOOPBACK_OK)
    assert info.value.reason == status


def test_a_gzip_encoded_image_is_inflated(image_host, flickr_images):
    body, _ = fetch_image_bytes(f"{image_host}/gzip.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes()


def test_nested_gzip_bomb_is_refused_without_inflating_it(image_host):
    import tracemalloc

    from tests.conftest import ImageHost

    ImageHost.bomb()  # built before measuring: the server runs in this process
    policy = FetchPolicy(max_bytes=1024 * 1024, allow_loopback=True)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="decompresses to more than") as info:
            fetch_image_bytes(f"{image_host}/gzip-bomb.jpg", policy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 8 * policy.max_bytes  # never the 64 MiB the bomb holds


def test_unknown_content_encoding_is_refused(image_host):
    with pytest.raises(FetchError, match="content encoding") as info:
        fetch_image_bytes(f"{image_host}/brotli.jpg", LOOPBACK_OK)
    assert info.value.reason == "unsupported"


def test_total_timeout_holds_while_headers_drip(image_host):
    import time

    policy = FetchPolicy(read_timeout=5.0, total_timeout=1.5, allow_loopback=True)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as info:
        fetch_image_bytes(f"{image_host}/drip-headers.jpg", policy)
    assert info.value.reason == "timeout"
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("addresses", [
    ["93.184.216.34", "10.0.0.5"],  # a private address after a public one
    ["127.0.0.1", "93.184.216.34"],
    ["2606:2800:220:1::1", "::ffff:169.254.169.254"],
])
def test_every_resolved_address_is_checked(monkeypatch, addresses):
    import socket

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(FetchError, match="refused") as info:
        resolve_checked("mixed.example", allow_loopback=False)
    assert info.value.reason == "forbidden"


def test_a_host_with_only_public_addresses_is_pinned_to_one_of_them(monkeypatch):
    import socket

    addresses = ["93.184.216.34", "93.184.216.35"]
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (x, port)) for x in addresses])
    assert resolve_checked("public.example", allow_loopback=False) in addresses


@pytest.mark.parametrize("url, message, status", [
    ("ftp://example.com/a.jpg", "only http and https URLs are allowed, not 'ftp'", "invalid"),
    ("//example.com/a.jpg", "only http and https URLs are allowed, not 'no scheme'", "invalid"),
    ("http:///a.jpg", "URL has no host", "invalid"),
    ("http://user:pw@example.com/a.jpg", "URLs with credentials are not allowed", "invalid"),
    ("http://example.com:99999/a.jpg", "URL has an invalid port", "invalid"),
])
def test_url_refusals_say_why_with_their_status(url, message, status):
    from captioner.runtime.data.fetch import _check_url

    with pytest.raises(FetchError) as info:
        _check_url(url)
    assert str(info.value) == message and info.value.reason == status


@pytest.mark.parametrize("url, expected", [
    ("http://example.com/a.jpg", ("http", "example.com", 80)),
    ("https://example.com/a.jpg", ("https", "example.com", 443)),
    ("https://example.com:8443/a.jpg", ("https", "example.com", 8443)),
    ("http://EXAMPLE.com:81", ("http", "example.com", 81)),
])
def test_default_ports(url, expected):
    from captioner.runtime.data.fetch import _check_url

    assert _check_url(url) == expected


def test_inflate_every_coding_and_the_limit():
    import gzip
    import zlib

    from captioner.runtime.data.fetch import inflate

    with pytest.raises(FetchError, match="more than 3 content codings") as info:
        inflate(b"", "identity, identity, identity, identity", 10)
    assert info.value.reason == "unsupported"

    data = bytes(range(256)) * 40  # 10,240 bytes
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = raw.compress(data) + raw.flush()
    assert inflate(data, "", 10_240) == data and inflate(data, "identity", 10_240) == data
    assert inflate(gzip.compress(data), "gzip", 10_240) == data
    assert inflate(gzip.compress(data), "X-GZip", 10_240) == data
    assert inflate(zlib.compress(data), "deflate", 10_240) == data  # zlib-wrapped, as the RFC says
    assert inflate(raw_deflate, "deflate", 10_240) == data  # raw, as some servers send
    assert inflate(zlib.compress(gzip.compress(data)), "gzip, deflate", 10_240) == data  # gzip applied first
    with pytest.raises(FetchError, match="decompresses to more than 10,239 bytes") as info:
        inflate(gzip.compress(data), "gzip", 10_239)  # one byte over
    assert info.value.reason == "too_large"
    with pytest.raises(FetchError) as info:
        inflate(b"\x1f\x8b not gzip at all", "gzip", 10_240)
    assert (str(info.value), info.value.reason) == ("corrupt gzip body", "unreadable")
    with pytest.raises(FetchError) as info:
        inflate(data, "compress-" + "x" * 40, 10_240)
    assert info.value.reason == "unsupported" and str(info.value) == f"unsupported content encoding {('compress-' + 'x' * 40)[:20]!r}"


def test_the_request_names_the_host_it_was_given_and_asks_for_an_image(image_host, flickr_images):
    from tests.conftest import ImageHost

    port = image_host.rsplit(":", 1)[1]
    body, _ = fetch_image_bytes(f"http://localhost:{port}/echo-headers.jpg", LOOPBACK_OK)  # pinned to 127.0.0.1
    assert body == flickr_images[0].read_bytes()
    seen = {k.lower(): v for k, v in ImageHost.seen_headers.items()}
    assert seen["host"] == f"localhost:{port}"  # the name, not the address the connection was pinned to
    assert seen["accept"] == "image/*" and seen["user-agent"] == "captioner"
    assert seen["accept-encoding"] == "identity"  # compressed bodies are inflated by us, within the limit


@pytest.mark.parametrize("path, message", [
    ("/no-location", "redirect without a Location header"),
    ("/bad-request", "answered HTTP 400"),
])
def test_broken_redirects_and_error_statuses_are_400(image_host, path, message):
    with pytest.raises(FetchError, match=message) as info:
        fetch_image_bytes(f"{image_host}{path}", LOOPBACK_OK)
    assert info.value.reason == "invalid"


@pytest.mark.parametrize("location", ["javascript:alert(1)", "data:image/png;base64,AAAA", "mailto:a@example.com",
                                      "http:image", "about:blank", "http://[::1", "http://exa mple.com/x.jpg",
                                      "http://" + "a" * 300 + ".com/x.jpg"])
def test_a_redirect_to_any_bad_location_is_a_4xx(image_host, location):
    from urllib.parse import quote

    with pytest.raises(FetchError) as info:
        fetch_image_bytes(f"{image_host}/redirect-to/{quote(location, safe='')}", LOOPBACK_OK)
    assert 400 <= status_of(info.value) < 500


def test_stacked_content_codings_are_refused_before_any_inflating(image_host, flickr_images):
    import time

    body, _ = fetch_image_bytes(f"{image_host}/stacked/1", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes()
    started = time.monotonic()
    with pytest.raises(FetchError, match="content codings") as info:
        fetch_image_bytes(f"{image_host}/stacked/2000", LOOPBACK_OK)
    assert info.value.reason == "unsupported" and time.monotonic() - started < 5  # refused at once, not inflated


def test_a_malformed_url_is_400():
    with pytest.raises(FetchError, match="malformed URL") as info:
        fetch_image_bytes("http://[::1/x.jpg", LOOPBACK_OK)
    assert info.value.reason == "invalid"


def test_proxy_settings_in_the_environment_are_ignored(image_host, flickr_images, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: a proxied fetch would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    body, _ = fetch_image_bytes(f"{image_host}/photo.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes()


def test_a_fetch_error_is_invalid_unless_said_otherwise():
    assert FetchError("no").reason == "invalid" and FetchError("big", "too_large").reason == "too_large"
    with pytest.raises(ValueError, match="reason must be one of"):
        FetchError("x", 413)  # HTTP statuses belong to serving's edge


def test_an_address_with_a_zone_is_judged_by_its_address():
    assert refusal("fe80::1%eth0") == "private" and refusal("2606:4700:4700::1111%2") is None


def test_a_host_that_does_not_resolve_is_400(monkeypatch):
    import socket

    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(FetchError) as info:
        resolve_checked("nowhere.invalid", allow_loopback=False)
    assert (str(info.value), info.value.reason) == ("cannot resolve host 'nowhere.invalid'", "invalid")


@pytest.mark.parametrize("url", ["http://user@example.com/a.jpg", "http://:secret@example.com/a.jpg"])
def test_a_user_name_or_a_password_alone_is_refused(url):
    from captioner.runtime.data.fetch import _check_url

    with pytest.raises(FetchError, match="credentials"):
        _check_url(url)


@pytest.mark.parametrize("url, address, port, pinned, host_header", [
    ("http://example.com/a.jpg?x=1#frag", "93.184.216.34", 80, "http://93.184.216.34:80/a.jpg?x=1", "example.com"),
    ("https://v6.example:8443", "2606:2800:220:1::1", 8443, "https://[2606:2800:220:1::1]:8443/", "v6.example:8443"),
    ("http://@example.com:81/b.png", "93.184.216.34", 81, "http://93.184.216.34:81/b.png", "example.com:81"),
])
def test_the_request_is_pinned_to_the_checked_address(url, address, port, pinned, host_header):
    from captioner.runtime.data.fetch import _pinned

    assert _pinned(url, address, port) == (pinned, host_header)


def test_time_left_is_the_smaller_of_the_timeout_and_the_deadline():
    import time

    from captioner.runtime.data.fetch import _time_left

    now = time.monotonic()
    assert _time_left(now + 0.5, None, TimeoutError) == pytest.approx(0.5, abs=0.05)  # under a second is still time
    assert _time_left(now + 30, 2.0, TimeoutError) == 2.0
    assert _time_left(now + 0.5, 2.0, TimeoutError) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(TimeoutError, match="^the fetch ran past its total time limit$"):
        _time_left(now - 0.01, 2.0, TimeoutError)


class _Recorder:
    """A network stream that records what it was asked to do and with which timeout."""

    def __init__(self):
        self.calls = []

    def read(self, max_bytes, timeout=None):
        self.calls.append(("read", max_bytes, timeout))
        return b"data"

    def write(self, buffer, timeout=None):
        self.calls.append(("write", buffer, timeout))

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.calls.append(("start_tls", ssl_context, server_hostname, timeout))
        self.upgraded = _Recorder()
        return self.upgraded

    def get_extra_info(self, info):
        self.calls.append(("info", info))
        return f"info:{info}"

    def close(self):
        self.calls.append(("close",))


def test_every_operation_on_a_connection_stops_at_the_deadline():
    import time

    import httpcore

    from captioner.runtime.data.fetch import _DeadlineStream

    inner = _Recorder()
    deadline = time.monotonic() + 60
    stream = _DeadlineStream(inner, deadline)
    assert stream.read(10, 2.0) == b"data"
    stream.write(b"GET", 3.0)
    stream.write(b"more")  # no timeout of its own: what is left before the deadline
    tls = stream.start_tls("ctx", "example.com", 4.0)
    assert stream.get_extra_info("socket") == "info:socket"
    stream.close()
    assert inner.calls[:3] == [("read", 10, 2.0), ("write", b"GET", 3.0), ("write", b"more", inner.calls[2][2])]
    assert 55 < inner.calls[2][2] <= 60
    assert inner.calls[3:] == [("start_tls", "ctx", "example.com", 4.0), ("info", "socket"), ("close",)]
    assert isinstance(tls, _DeadlineStream) and tls.stream is inner.upgraded and tls.deadline == deadline
    late = _DeadlineStream(_Recorder(), time.monotonic() - 1)
    for operation in (lambda: late.read(1, 5.0), lambda: late.write(b"x", 5.0), lambda: late.start_tls("ctx", "h", 5.0)):
        with pytest.raises(httpcore.ReadTimeout):
            operation()


def test_connecting_honours_the_deadline_and_the_socket_options(image_host):
    import socket
    import time

    import httpcore

    from captioner.runtime.data.fetch import _DeadlineBackend, _DeadlineStream

    port = int(image_host.rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    listener = socket.create_server(("127.0.0.2", 0))  # not the default loopback address: the host given is used
    other = listener.getsockname()[1]
    stream = _DeadlineBackend(deadline).connect_tcp("127.0.0.2", other, timeout=2.5, local_address="127.0.0.3",
                                                    socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)])
    try:
        assert isinstance(stream, _DeadlineStream) and stream.deadline == deadline
        sock = stream.get_extra_info("socket")
        assert sock.getpeername() == ("127.0.0.2", other) and sock.getsockname()[0] == "127.0.0.3"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.gettimeout() == 2.5
    finally:
        stream.close()
        listener.close()
    stream = _DeadlineBackend(time.monotonic() + 3.0).connect_tcp("127.0.0.1", port)  # no timeout: the deadline's
    try:
        assert 2.0 < stream.get_extra_info("socket").gettimeout() <= 3.0
    finally:
        stream.close()
    with pytest.raises(httpcore.ConnectTimeout, match="total time limit"):
        _DeadlineBackend(time.monotonic() - 1).connect_tcp("127.0.0.1", port, timeout=2.5)


def test_the_connect_timeout_is_the_policys(image_host, monkeypatch):
    import httpcore

    seen = []
    original = httpcore.SyncBackend.connect_tcp

    def spy(self, host, port, timeout=None, local_address=None, socket_options=None):
        seen.append(timeout)
        return original(self, host, port, timeout, local_address, socket_options)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", spy)
    policy = FetchPolicy(allow_loopback=True, connect_timeout=0.7, read_timeout=1.0, total_timeout=30.0)
    fetch_image_bytes(f"{image_host}/photo.jpg", policy)
    assert seen == [0.7]


def test_https_speaks_tls_to_the_name_given_and_a_failed_handshake_is_400(image_host, monkeypatch):
    from captioner.runtime.data.fetch import _DeadlineStream

    seen = []
    original = _DeadlineStream.start_tls

    def spy(self, ssl_context, server_hostname=None, timeout=None):
        seen.append((type(ssl_context).__name__, server_hostname))
        return original(self, ssl_context, server_hostname, timeout)

    monkeypatch.setattr(_DeadlineStream, "start_tls", spy)
    port = image_host.rsplit(":", 1)[1]
    with pytest.raises(FetchError) as info:  # the test server speaks plain HTTP: the handshake fails
        fetch_image_bytes(f"https://localhost:{port}/photo.jpg", LOOPBACK_OK)
    assert (str(info.value), info.value.reason) == ("cannot fetch the image URL (ConnectError)", "invalid")
    assert seen == [("SSLContext", "localhost")]


def test_the_environments_tls_settings_are_ignored(image_host, flickr_images, monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))  # read, this would fail
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    body, _ = fetch_image_bytes(f"{image_host}/photo.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes()


def test_an_at_sign_without_credentials_still_names_the_host(image_host, flickr_images):
    from tests.conftest import ImageHost

    port = image_host.rsplit(":", 1)[1]
    body, _ = fetch_image_bytes(f"http://@localhost:{port}/echo-headers.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes()
    assert {k.lower(): v for k, v in ImageHost.seen_headers.items()}["host"] == f"localhost:{port}"


def test_a_body_that_drips_stops_at_the_total_time_limit(image_host):
    import time

    policy = FetchPolicy(read_timeout=5.0, total_timeout=1.5, allow_loopback=True)
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(f"{image_host}/drip-body.jpg", policy)
    assert (str(info.value), info.value.reason) == ("the image URL timed out", "timeout")
    assert time.monotonic() - started < 3.0


def test_a_malformed_redirect_location_is_400(image_host):
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(f"{image_host}/bad-location", LOOPBACK_OK)  # Location: http://[::1/x.jpg
    assert (str(info.value), info.value.reason) == ("cannot fetch the image URL (RemoteProtocolError)", "invalid")


@pytest.mark.parametrize("url, why", [("http://[::1/x.jpg", "Invalid IPv6 URL"),
                                      ("http://" + "a" * 70 + "..example.com/x.jpg", "label")])
def test_a_malformed_url_says_so_in_one_short_line(url, why):
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(url, LOOPBACK_OK)
    assert str(info.value).startswith("malformed URL (") and why in str(info.value) and info.value.reason == "invalid"
    assert len(str(info.value)) <= len("malformed URL ()") + 80


@pytest.mark.parametrize("path, message, status", [
    ("/hop/3", "too many redirects (more than 3)", "invalid"),
    ("/missing.jpg", "the image URL answered HTTP 404", "invalid"),
    ("/no-location", "redirect without a Location header", "invalid"),
    ("/slow.jpg", "the image URL timed out", "timeout"),
])
def test_statuses_of_refusals_on_the_way(image_host, path, message, status):
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(f"{image_host}{path}", LOOPBACK_OK)
    assert (str(info.value), info.value.reason) == (message, status)


@pytest.mark.parametrize("url, message", [
    ("gopher://x", "only http and https URLs are allowed, not 'gopher'"),
    ("http:///nohost", "URL has no host"),
    ("http://user:pw@example.com/a.jpg", "URLs with credentials are not allowed"),
    ("http://example.com:99999/a.jpg", "URL has an invalid port"),
])
def test_refused_urls_are_400_with_their_reason(url, message):
    with pytest.raises(FetchError) as info:
        fetch_image_bytes(url)
    assert (str(info.value), info.value.reason) == (message, "invalid")


def test_an_image_of_exactly_the_size_limit_is_accepted(image_host, flickr_images):
    photo = flickr_images[0].read_bytes()
    policy = FetchPolicy(allow_loopback=True, read_timeout=1.0, max_bytes=len(photo))
    assert fetch_image_bytes(f"{image_host}/photo.jpg", policy)[0] == photo  # declared and read: exactly the limit
    with pytest.raises(FetchError, match="larger than"):
        fetch_image_bytes(f"{image_host}/photo.jpg", FetchPolicy(allow_loopback=True, max_bytes=len(photo) - 1))


def test_a_response_without_a_content_type_says_so_with_an_empty_type(image_host, flickr_images):
    body, content_type = fetch_image_bytes(f"{image_host}/no-type.jpg", LOOPBACK_OK)
    assert body == flickr_images[0].read_bytes() and content_type == ""


def test_identity_inside_a_list_of_codings_is_skipped_not_the_end():
    import gzip

    from captioner.runtime.data.fetch import inflate

    data = bytes(range(256)) * 4
    assert inflate(gzip.compress(data), "gzip, identity", 1024) == data
    assert inflate(b"x", "identity", 1) == b"x"
