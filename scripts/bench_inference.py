#!/usr/bin/env python
"""Inference speed, every figure of the README's table in one run (the shipped default model).

    .venv/bin/python scripts/bench_inference.py --flickr ../shared/data/flickr8k [--photos 60]
        [--skip-cli] [--skip-folder] [--skip-server] [--server-seconds 60] [--folder-images 1000]

1. In process, on distinct Flickr8k test photos, one image at a time: the bare encoder forward
   (ONNX Runtime), then the full caption (preprocess + encoder + grounding + search), greedy and
   beam 5, medians and their ratios to the encoder. Both are measured in this same run, and each
   caption's time is split into preprocessing, encoder, concepts, the decoder's (and language
   model's) ONNX runs and the numpy search around them.
2. `captioner caption one.jpg`: wall time of a new process, model load included, median of 5.
3. `captioner caption FOLDER` on --folder-images test/val/train photos: images/s and peak RSS.
4. The server under 50 concurrent clients for --server-seconds, distinct photos, beam 3
   (scripts/load_test.py --serve): requests/s, p50, p95, errors, /api/health p99.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def photos(flickr: Path, count: int) -> list[Path]:
    names = []
    for split in ("Flickr_8k.testImages.txt", "Flickr_8k.devImages.txt", "Flickr_8k.trainImages.txt"):
        names += (flickr / split).read_text().split()
    return [flickr / "images" / name for name in names[:count]]


def _timed(timings: dict[str, float], obj, name: str) -> None:
    """Wrap obj.name so its calls add their seconds to timings[name] (and count into timings[name + ' calls'])."""
    method = getattr(obj, name)

    @functools.wraps(method)  # keeps what search reads of a step function (`broadcasts`)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
            timings[name + " calls"] = timings.get(name + " calls", 0) + 1

    setattr(obj, name, timed)


def in_process(images: list[Path], warmup: int = 3) -> dict:
    import numpy as np

    from captioner.runtime.data.images import load_image
    from captioner.runtime.options import CaptionOptions
    from captioner.export.loading import load_captioner

    captioner = load_captioner()
    calls: dict[str, float] = {}  # the decoder's and language model's time, per caption
    decoders = getattr(captioner.decoder, "routes", {}).values()  # a model whose everyday photos have their own
    for decoder in (getattr(captioner.decoder, "main", captioner.decoder), *decoders):
        _timed(calls, decoder, "init_state")
        _timed(calls, decoder, "step")
    if captioner.language_model is not None:
        _timed(calls, captioner.language_model, "step")
    loaded = [load_image(p) for p in images]
    timings: dict[str, list[float]] = {"encoder": [], "greedy": [], "beam 5": []}
    stages: dict[str, dict[str, list[float]]] = {"greedy": {}, "beam 5": {}}
    for n, image in enumerate(loaded):
        pixels = np.stack([captioner.encoder.preprocess(image)])
        started = time.perf_counter()
        captioner.encoder.encode(pixels)
        encoder = time.perf_counter() - started
        measured = {}
        for mode, options in (("greedy", CaptionOptions(beam_size=1)), ("beam 5", CaptionOptions())):
            calls.clear()
            started = time.perf_counter()
            [result] = captioner.caption([image], options)
            measured[mode] = time.perf_counter() - started
            parts = dict(result.timings_ms)
            model_ms = 1000 * (calls.get("init_state", 0.0) + calls.get("step", 0.0))
            parts["steps"] = calls.get("step calls", 0)
            parts["search (numpy)"] = parts["decode"] - model_ms
            parts["decoder runs (ONNX)"] = model_ms
            parts["of which the initial state"] = 1000 * calls.get("init_state", 0.0)
            del parts["decode"]
            if n >= warmup:
                for key, value in parts.items():
                    stages[mode].setdefault(key, []).append(value)
        if n >= warmup:
            timings["encoder"].append(encoder)
            timings["greedy"].append(measured["greedy"])
            timings["beam 5"].append(measured["beam 5"])
    medians = {k: 1000 * statistics.median(v) for k, v in timings.items()}
    print(f"in process, {len(timings['encoder'])} distinct photos, one at a time (medians):")
    print(f"  bare encoder forward ({type(captioner.encoder).__name__}): {medians['encoder']:.1f} ms")
    for mode in ("greedy", "beam 5"):
        print(f"  full caption, {mode}, grounded: {medians[mode]:.1f} ms = {medians[mode] / medians['encoder']:.2f}x "
              f"the encoder")
        parts = {k: statistics.median(v) for k, v in stages[mode].items()}
        print("    of which (medians, ms): " + ", ".join(
            f"{k} {v:.0f}" if k == "steps" else f"{k} {v:.2f}" for k, v in parts.items()))
    return medians


def cli_one(image: Path, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(BIN / "captioner"), "caption", str(image)], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    print(f"`captioner caption one.jpg`: median {statistics.median(times):.2f} s of {runs} (min {min(times):.2f}, "
          f"max {max(times):.2f}), wall, model load included")
    return statistics.median(times)


def folder(images: list[Path]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        for p in images:
            (Path(tmp) / p.name).symlink_to(p.resolve())
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        out = subprocess.run([str(BIN / "captioner"), "caption", tmp, "--json"], check=True, capture_output=True,
                             text=True).stdout
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [line for line in out.splitlines() if line.strip()]
    rate = len(images) / elapsed
    note = "" if peak > before else " (at most that of an earlier child)"
    print(f"`captioner caption FOLDER`, {len(images)} photos: {elapsed:.1f} s = {rate:.1f} images/s, "
          f"{len(lines)} results, peak RSS {peak / 1024:.0f} MB{note}")
    return rate


def server(images: list[Path], seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for p in images:
            (Path(tmp) / p.name).symlink_to(p.resolve())
        command = [sys.executable, str(ROOT / "scripts/load_test.py"), "--serve", "--clients", str(clients),
                   "--seconds", str(seconds), "--beam-size", "3", str(Path(tmp) / "*.jpg")]
        print(f"server, {clients} clients, {seconds:.0f} s, beam 3, distinct photos:")
        subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", default=str(ROOT.parent / "shared/data/flickr8k"), help="Flickr8k folder")
    parser.add_argument("--photos", type=int, default=60, help="distinct photos for the in-process figures")
    parser.add_argument("--folder-images", type=int, default=1000)
    parser.add_argument("--server-seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    flickr = Path(args.flickr)
    pool = photos(flickr, max(args.photos, args.folder_images))
    in_process(pool[: args.photos])
    if not args.skip_cli:
        cli_one(pool[0])
    if not args.skip_folder:
        folder(pool[: args.folder_images])
    if not args.skip_server:
        server(photos(flickr, 10**6), args.server_seconds, args.clients)  # every photo: none is sent twice


if __name__ == "__main__":
    main()
