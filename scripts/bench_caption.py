#!/usr/bin/env python
"""Wall time of `captioner caption IMAGE` as a user sees it: new process, model load, one caption.

    .venv/bin/python scripts/bench_caption.py IMAGE [--runs 5] [--model NAME]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    command = [str(Path(sys.executable).parent / "captioner"), "caption", args.image]
    if args.model:
        command += ["--model", args.model]
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        times.append(time.perf_counter() - started)
    print(out)
    print(f"captioner caption, {args.runs} runs: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s (wall, including Python start and model load)")


if __name__ == "__main__":
    main()
