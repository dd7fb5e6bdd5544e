"""ONNX Runtime sessions with this project's options, and an exported encoder trunk run on images.

Exports are cached under the settings' cache home (`onnx/`): encoders' trunks by name, models'
decoders by their file's SHA-256 (`onnx/decoders/`). Making an export needs torch:
captioner/training/encoders/onnx.py (encoders) and captioner/export/ (models).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from captioner.settings import settings


def onnx_cache_dir() -> Path:
    return settings().cache_home / "onnx"


def ort_session(path: Path, threads: int | None = None, providers: list[str] | None = None, stepwise: bool = False):
    """An ONNX Runtime session with this project's options (CPU unless other providers are given).

    stepwise: for graphs run many times in a row on a few rows (a decoder step): the threads spin
    between the operators of a run (a quarter faster for one row: scripts/bench_step.py with and
    without --no-spin), and still stop at its end.
    """
    options = ort.SessionOptions()
    # ONNX Runtime's threads otherwise spin for a while after each run, and on a small CPU they
    # then fight PyTorch's (or the next session's) for the cores (30-90 ms lost per caption)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if stepwise else "0")
    if stepwise:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def run_trunk(session, batch: np.ndarray, channels_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """An exported trunk on (B, H, W, 3) preprocessed images -> pooled (B, D), grid (B, g*g, D)."""
    if channels_last:
        (grid,) = session.run(None, {"pixels": np.ascontiguousarray(batch, dtype=np.float32)})  # (B, g, g, D)
        cells = grid.reshape(grid.shape[0], -1, grid.shape[-1])  # (B, g*g, D)
        return cells.mean(axis=1), np.ascontiguousarray(cells)
    pixels = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)  # (B, 3, H, W)
    (grid,) = session.run(None, {"pixels": pixels})  # (B, D, g, g)
    cells = grid.reshape(grid.shape[0], grid.shape[1], -1).transpose(0, 2, 1)  # (B, g*g, D)
    return cells.mean(axis=1), np.ascontiguousarray(cells)
