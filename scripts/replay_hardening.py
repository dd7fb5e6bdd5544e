#!/usr/bin/env python
"""Replay the second hardening round's attacks against a real `captioner serve` and print what each cost.

    .venv/bin/python scripts/replay_hardening.py [--port 8765]

Starts the server (the shipped default model), then, one attack at a time, while a prober asks
/api/health every 50 ms: three concurrent 16-bit 6324x6324 TIFF uploads, four 10 MB JSON bodies,
two 6000x6000 JPEG 2000 uploads, and 205 idle sockets. Prints per attack the status codes, the
longest /api/health answer and the share answered 200, and the server's peak RSS so far (VmHWM).
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Prober(threading.Thread):
    """/api/health every 50 ms until stopped: the longest answer and the share that were 200."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.stop, self.times, self.codes = base, threading.Event(), [], []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    self.codes.append(client.get(self.base + "/api/health").status_code)
                except httpx.HTTPError:
                    self.codes.append(0)
                self.times.append(time.monotonic() - started)
                time.sleep(0.05)

    def report(self) -> str:
        ok = self.codes.count(200) / max(len(self.codes), 1)
        return f"/api/health max {max(self.times, default=0):.3f} s, 200 in {ok:.0%} of {len(self.codes)} probes"


def attack(name: str, base: str, pid: int, work) -> None:
    prober = Prober(base)
    prober.start()
    started = time.monotonic()
    results = work()
    seconds = time.monotonic() - started
    time.sleep(0.3)
    prober.stop.set()
    prober.join()
    print(f"{name}: {results} in {seconds:.1f} s; {prober.report()}; server peak RSS {peak_rss_mb(pid):.0f} MB", flush=True)


def concurrently(count: int, send) -> list:
    out: list = [None] * count

    def one(k: int) -> None:
        try:
            out[k] = send()
        except httpx.HTTPError as exc:
            out[k] = type(exc).__name__

    threads = [threading.Thread(target=one, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "captioner", "serve", "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(f"server up, peak RSS {peak_rss_mb(server.pid):.0f} MB", flush=True)
        tiff = io.BytesIO()
        Image.fromarray(np.zeros((6324, 6324), np.uint16)).save(tiff, "TIFF", compression="tiff_deflate")
        tiff = tiff.getvalue()
        j2k = io.BytesIO()
        Image.new("RGB", (6000, 6000), (90, 120, 30)).save(j2k, "JPEG2000", irreversible=True,
                                                            quality_mode="rates", quality_layers=[2000])
        j2k = j2k.getvalue()
        body = json.dumps({"url": "http://example.com/a.jpg", "pad": "x" * (10 * 1024 * 1024)}).encode()

        def upload(data: bytes, name: str):
            return lambda: httpx.post(base + "/api/caption", files={"file": (name, data)}, timeout=120).status_code

        attack(f"3 x 16-bit 6324x6324 TIFF ({len(tiff):,} bytes)", base, server.pid,
               lambda: concurrently(3, upload(tiff, "deep.tif")))
        attack("4 x 10 MB JSON bodies", base, server.pid, lambda: concurrently(4, lambda: httpx.post(
            base + "/api/caption-url", content=body, headers={"Content-Type": "application/json"}, timeout=60).status_code))
        attack(f"2 x 6000x6000 JPEG 2000 ({len(j2k):,} bytes)", base, server.pid,
               lambda: concurrently(2, upload(j2k, "big.j2k")))

        def idle():
            sockets = [socket.create_connection(("127.0.0.1", args.port)) for _ in range(205)]
            time.sleep(5)
            for s in sockets:
                s.close()
            return "205 sockets held 5 s"

        attack("205 idle sockets", base, server.pid, idle)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
