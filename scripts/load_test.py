#!/usr/bin/env python
"""Load a running captioner server: N concurrent clients for T seconds (bounded, loopback by default).

    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:8000 --clients 8 --seconds 30 IMAGES...

Each client uploads images in turn (distinct images miss the server's cache; --same repeats one).
Prints requests/s, p50/p95 latency and the error count.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import statistics
import time
from pathlib import Path

import httpx


async def client_loop(client, url, images, offset, stop_at, latencies, errors):
    k = offset
    while time.monotonic() < stop_at:
        path = images[k % len(images)]
        k += 1
        started = time.perf_counter()
        try:
            r = await client.post(f"{url}/api/caption", files={"file": (path.name, path.read_bytes())})
            if r.status_code != 200:
                errors.append(r.status_code)
                continue
            latencies.append(time.perf_counter() - started)
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)


async def run(args) -> None:
    images = [Path(p) for pattern in args.images for p in sorted(glob.glob(pattern))]
    if args.same:
        images = images[:1]
    if not images:
        raise SystemExit("no images given")
    latencies: list[float] = []
    errors: list = []
    stop_at = time.monotonic() + args.seconds
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(client_loop(client, args.url, images, i * 997, stop_at, latencies, errors)
                               for i in range(args.clients)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    print(f"{args.clients} clients, {elapsed:.1f} s, {len(images)} distinct images: "
          f"{len(latencies)} ok, {len(errors)} errors, {len(latencies) / elapsed:.2f} requests/s, "
          f"p50 {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * q[18]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files or glob patterns to upload")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send requests")
    parser.add_argument("--same", action="store_true", help="send one image only (measures the cache path)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
