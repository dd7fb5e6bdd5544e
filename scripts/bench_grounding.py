#!/usr/bin/env python
"""Latency of one caption, plain beam search vs grounded (constraints + fusion), same process, same images.

    .venv/bin/python scripts/bench_grounding.py '../shared/data/coco-dev/images/*.jpg' --images 40 [--repeat 3]

Loads the model once, then captions each image alone (batch of one, as the web app does), timing
everything from the decoded RGB image to the finished caption: preprocessing, encoder, concepts
and search. The two modes alternate per image so both see the same machine load. --repeat N
goes over the images N times and also prints each pass's ratio (the machine's noise).
"""

from __future__ import annotations

import argparse
import glob
import statistics
import time

from captioner.runtime.data.images import load_image
from dataclasses import replace

from captioner.runtime.options import CaptionOptions
from captioner.export.loading import load_captioner
from captioner.runtime.model.captioner import Captioner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pattern", help="glob of images")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--model", default=None)
    parser.add_argument("--beam-size", type=int, default=CaptionOptions().beam_size)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the images")
    args = parser.parse_args()
    paths = sorted(glob.glob(args.pattern))[: args.images]
    captioner = load_captioner(args.model)
    options = CaptionOptions(beam_size=args.beam_size)
    images = [load_image(p) for p in paths]
    captioner.caption(images[:1], options)  # warm up (ONNX Runtime, allocations)
    times: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}
    concepts: list[float] = []  # the grounder's time (ImageNet words, detectors, constraints), grounded calls
    passes = []
    for _ in range(max(1, args.repeat)):
        start = len(times[False])
        for image in images:
            for grounded in (False, True):
                started = time.perf_counter()
                [result] = captioner.caption([image], replace(options, grounding=grounded))
                times[grounded].append(1000 * (time.perf_counter() - started))
                steps[grounded].append(result.timings_ms["decode"])
                if grounded:
                    concepts.append(result.timings_ms["concepts"])
        passes.append(statistics.median(times[True][start:]) / statistics.median(times[False][start:]))
    plain, grounded = statistics.median(times[False]), statistics.median(times[True])
    print(f"{len(images)} images x {len(passes)} passes, beam {options.beam_size}, one image per call")
    if len(passes) > 1:
        print("ratio per pass: " + ", ".join(f"{r:.2f}" for r in passes))
    print(f"plain:    median {plain:.1f} ms per caption (search {statistics.median(steps[False]):.1f} ms)")
    print(f"grounded: median {grounded:.1f} ms per caption (search {statistics.median(steps[True]):.1f} ms, "
          f"concepts {statistics.median(concepts):.2f} ms)")
    print(f"ratio grounded / plain: {grounded / plain:.2f}")


if __name__ == "__main__":
    main()
