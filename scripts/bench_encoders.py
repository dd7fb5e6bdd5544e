#!/usr/bin/env python
"""Encoder speed on this machine: ms per image for one image at a time and in batches of 32, in PyTorch
(Keras 3 on PyTorch for the Keras encoders) and in ONNX Runtime wherever the encoder exports.

    .venv/bin/python scripts/bench_encoders.py IMAGE_FOLDER [--encoders efficientnet-lite2 inception-v3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from captioner.runtime.data.images import load_image
from captioner.training.encoders import create_encoder
from captioner.training.encoders.onnx import OnnxEncoder


def ms_per_image(encoder, images, batch: int, repeats: int) -> float:
    pixels = np.stack([encoder.preprocess(i) for i in images[:batch]])
    encoder.encode(pixels)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode():
            encoder.encode(pixels)
        times.append((time.perf_counter() - started) / batch)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--encoders", nargs="+", default=["efficientnet-lite2", "efficientnet-lite0", "inception-v3"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default=None, help="weight file, or random (an untrained network: same speed)")
    args = parser.parse_args()
    images = [load_image(p) for p in sorted(Path(args.folder).glob("*.jpg"))[:32]]
    print(f"torch threads {torch.get_num_threads()}; ms per image (median of {args.repeats})")
    for name in args.encoders:
        encoder = create_encoder(name, args.weights)
        runtimes = [("pytorch", encoder)]
        if hasattr(encoder, "trunk") or hasattr(encoder, "export_onnx"):  # measured whether or not it is used
            runtimes.append(("onnxruntime", OnnxEncoder(encoder)))
        for runtime, enc in runtimes:
            one = ms_per_image(enc, images, 1, args.repeats)
            many = ms_per_image(enc, images, 32, max(2, args.repeats // 2))
            print(f"{name:<20} {runtime:<12} batch 1: {one:7.1f} ms   batch 32: {many:7.1f} ms/image")


if __name__ == "__main__":
    main()
