"""Drive an ASGI app with one POST whose body arrives in chunks, without a server or an HTTP client."""

import asyncio


async def post(app, headers: list[tuple[bytes, bytes]], chunks, delay: float = 0.0, after: float = 0.0,
               path: str = "/api/caption"):
    """Send the chunks (each `delay` s apart); once they are all read, the client disconnects after
    `after` s. Returns (the messages the app sent, how many chunks it pulled)."""
    chunks = list(chunks)
    pulled, sent = [0], []

    async def receive():
        if pulled[0] < len(chunks):
            if delay:
                await asyncio.sleep(delay)
            pulled[0] += 1
            return {"type": "http.request", "body": chunks[pulled[0] - 1], "more_body": pulled[0] < len(chunks)}
        await asyncio.sleep(after)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test")] + headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    return sent, pulled[0]


def response_body(sent: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
