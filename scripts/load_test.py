#!/usr/bin/env python
"""Load a captioner server: N concurrent clients for T seconds (loopback by default).

    .venv/bin/python scripts/load_test.py --clients 8 --seconds 30 IMAGES...
    .venv/bin/python scripts/load_test.py --serve --corpus --clients 50 --seconds 60 IMAGES...

Each client uploads images in turn (distinct images miss the server's cache; --same repeats one).
--corpus: every other request is a case of the attack corpus (tests/serving/attack_corpus.py:
bad images, bombs, bad parameters, hostile URLs, ...) instead of a valid upload.
--serve: start `captioner serve` on a free port for the run and sample its memory (RSS).
A health poller asks /api/health every 100 ms throughout. Prints requests/s, latency, the count
of answers >= 500 and of transport errors (resets, timeouts), health p50/p99/max and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import glob
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def client_loop(client, images, cases, offset, stop_at, stats, form):
    rng = random.Random(offset)
    k = -1
    while time.monotonic() < stop_at:
        k += 1
        started = time.perf_counter()
        try:
            if cases and k % 2:
                case = rng.choice(cases)
                r = await client.request(case.method, case.path, **case.options)
                kind = "corpus"
            else:
                path = images[k % len(images)]
                r = await client.post("/api/caption", files={"file": (path.name, path.read_bytes())}, data=form)
                kind = "valid"
            stats["status"][r.status_code] += 1
            if kind == "valid" and r.status_code == 200 and r.json().get("cached"):
                stats["cached"] += 1
            if r.status_code >= 500:
                stats["server_errors"].append((kind, r.status_code, r.text[:100]))
            elif kind == "valid" and r.status_code == 200:
                stats["latency"].append(time.perf_counter() - started)
        except httpx.HTTPError as exc:
            stats["transport_errors"][type(exc).__name__] += 1


async def health_loop(client, stop_at, latencies, failures):
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            r = await client.get("/api/health")
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                failures.append(r.status_code)
        except httpx.HTTPError as exc:
            failures.append(type(exc).__name__)
        await asyncio.sleep(0.1)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def rss_loop(pid: int | None, stop_at, samples):
    while pid and time.monotonic() < stop_at:
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.5)


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "captioner.cli", "serve", "--port", str(port), *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


async def run(args) -> None:
    images = [Path(p) for pattern in args.images for p in sorted(glob.glob(pattern))]
    if args.same:
        images = images[:1]
    if not images:
        raise SystemExit("no images given")
    cases = []
    if args.corpus:
        sys.path.insert(0, str(ROOT))
        from tests.serving.attack_corpus import attack_corpus

        cases = attack_corpus(images[0].read_bytes())
    process, url = (start_server(args.server_args.split()) if args.serve else (None, args.url))
    stats = {"status": collections.Counter(), "server_errors": [], "transport_errors": collections.Counter(), "latency": [],
             "cached": 0}
    health, health_failures, rss = [], [], []
    try:
        stop_at = time.monotonic() + args.seconds
        started = time.perf_counter()
        limits = httpx.Limits(max_connections=args.clients + 2)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client, \
                httpx.AsyncClient(base_url=url, timeout=10) as prober:
            form = {"beam_size": str(args.beam_size)} if args.beam_size else None
            # client i sends images i, i + clients, i + 2 * clients, ...: no image twice until all were sent
            await asyncio.gather(*(client_loop(client, images[i::args.clients] or images, cases, i, stop_at, stats, form)
                                   for i in range(args.clients)),
                                 health_loop(prober, stop_at, health, health_failures),
                                 rss_loop(process.pid if process else None, stop_at, rss))
        elapsed = time.perf_counter() - started
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
    latencies = stats["latency"]
    total = sum(stats["status"].values())
    print(f"{args.clients} clients, {elapsed:.1f} s, {len(images)} distinct images"
          f"{f', {len(cases)} corpus cases mixed in' if cases else ''}: {total} answers ({total / elapsed:.1f}/s), "
          f"{len(latencies)} captions ok ({stats['cached']} from the server's cache), p50 {1000 * statistics.median(latencies) if latencies else float('nan'):.0f} ms, "
          f"p95 {1000 * _quantile(latencies, 0.95):.0f} ms")
    print(f"answers >= 500: {len(stats['server_errors'])}  transport errors (resets/timeouts): "
          f"{sum(stats['transport_errors'].values())} {dict(stats['transport_errors']) or ''}")
    print(f"statuses: {dict(sorted(stats['status'].items()))}")
    print(f"/api/health: {len(health)} answers, p50 {1000 * _quantile(health, 0.5):.1f} ms, "
          f"p99 {1000 * _quantile(health, 0.99):.1f} ms, max {1000 * max(health, default=float('nan')):.1f} ms, "
          f"{len(health_failures)} failed")
    if rss:
        print(f"server RSS: peak {max(rss):.0f} MB (start {rss[0]:.0f} MB)")
    for error in stats["server_errors"][:5]:
        print("  >= 500:", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files or glob patterns to upload")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (without --serve)")
    parser.add_argument("--serve", action="store_true", help="start `captioner serve` for the run and sample its RSS")
    parser.add_argument("--server-args", default="", help="extra `captioner serve` flags with --serve")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send requests")
    parser.add_argument("--beam-size", type=int, default=None, help="beam size sent with each upload (default: the server's)")
    parser.add_argument("--same", action="store_true", help="send one image only (measures the cache path)")
    parser.add_argument("--corpus", action="store_true", help="mix in the attack corpus (every other request)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
