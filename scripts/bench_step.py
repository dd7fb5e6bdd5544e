#!/usr/bin/env python
"""Time one decoder step (step.onnx of an export folder) for a few batch sizes, in ONNX Runtime.

    .venv/bin/python scripts/bench_step.py captioner/models/default.onnx [OTHER_EXPORT ...] [--rows 1 5 40]

Make a float32 export to compare with: `captioner export-onnx --model default --precision float32
--output /tmp/fp32.onnx`. Inputs are random (tokens, state parts); the best of 3 runs of 200 steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def feeds(session, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for spec in session.get_inputs():
        shape = [rows if not isinstance(d, int) else d for d in spec.shape]
        out[spec.name] = (rng.integers(3, 2000, size=shape).astype(np.int64) if spec.name == "tokens"
                          else (rng.standard_normal(shape) * 0.5).astype(np.float32))
    return out


def main() -> None:
    import onnx

    from captioner.runtime.encoders.onnx_runtime import ort_session
    from captioner.runtime.model.runners import META_KEY

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exports", nargs="+", help="export folders (holding step.onnx)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 5, 40])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--no-spin", action="store_true",
                        help="the encoder's session options (threads never spin) instead of the step graphs' own")
    args = parser.parse_args()
    for folder in args.exports:
        path = Path(folder) / "step.onnx"
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        precision = json.loads(props.get(META_KEY, "{}")).get("precision", "?")
        session = ort_session(path, stepwise=not args.no_spin)
        rng = np.random.default_rng(0)
        figures = []
        for rows in args.rows:
            inputs = feeds(session, rows, rng)
            for _ in range(20):
                session.run(None, inputs)
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(args.steps):
                    session.run(None, inputs)
                best = min(best, 1000 * (time.perf_counter() - started) / args.steps)
            figures.append(f"{rows} rows {best:.3f} ms")
        print(f"{folder} ({precision}, {path.stat().st_size / 1e6:.1f} MB): " + "; ".join(figures))


if __name__ == "__main__":
    main()
