#!/usr/bin/env python
"""Throughput of the two batch engines on the same photos: local (one process) and Ray Data.

    .venv/bin/python scripts/bench_engines.py --flickr ../shared/data/flickr8k [--photos 1000] [--actors 1]

Each writes a .jsonl through `captioner caption SOURCE --output`, from a listing of the photos;
times are wall times of the whole command (Ray's start included). Prints images/s and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", default="../shared/data/flickr8k")
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--actors", type=int, default=1)
    args = parser.parse_args()
    flickr = Path(args.flickr)
    names = []
    for split in ("Flickr_8k.testImages.txt", "Flickr_8k.devImages.txt", "Flickr_8k.trainImages.txt"):
        names += (flickr / split).read_text().split()
    photos = [str((flickr / "images" / n).resolve()) for n in names[: args.photos]]
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("\n".join(photos) + "\n")
        for engine in ("local", "ray"):
            out = Path(tmp) / f"{engine}.jsonl"
            command = [str(Path(sys.executable).parent / "captioner"), "caption", str(listing), "--output", str(out),
                       "--engine", engine, "--ray-actors", str(args.actors)]
            started = time.perf_counter()
            subprocess.run(command, check=False, capture_output=True)
            seconds = time.perf_counter() - started
            rows = len(out.read_text().splitlines()) if out.exists() else 0
            rates[engine] = rows / seconds
            print(f"{engine:<6} {rows} rows in {seconds:.1f} s = {rates[engine]:.1f} images/s", flush=True)
    print(f"ray / local: {rates['ray'] / max(rates['local'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
