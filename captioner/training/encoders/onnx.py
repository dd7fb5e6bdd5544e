"""An encoder's convolution trunk exported to ONNX Runtime (about 3x faster on CPU here for EfficientNet).

The trunk is exported once to <cache>/onnx/<key>.onnx (atomically) and reused; the key is the
encoder's name, marked when its weights are random or come from an explicit file. Encoders that
expose `trunk()` (a PyTorch module mapping (B, 3, H, W) to the (B, D, g, g) grid) are exported
here; encoders with their own `export_onnx(path)` (the Keras ones: (B, H, W, 3) in, (B, g, g, D)
out, `onnx_channels_last`) export themselves, and are wrapped only where `onnx_faster` says
ONNX Runtime measured faster for them (scripts/bench_encoders.py).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from captioner.atomic import atomic_path
from captioner.runtime.encoders.base import RANDOM_WEIGHTS, Encoder
from captioner.runtime.encoders.onnx_runtime import onnx_cache_dir, ort_session, run_trunk

log = logging.getLogger(__name__)


def export_trunk(encoder: Encoder, path: Path) -> None:
    sample = torch.zeros(1, 3, encoder.input_size, encoder.input_size)  # (1, 3, H, W)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(encoder.trunk().eval(), (sample,), str(tmp), input_names=["pixels"], output_names=["grid"],
                          dynamic_axes={"pixels": {0: "batch"}, "grid": {0: "batch"}}, opset_version=17, dynamo=False)


def onnx_key(encoder: Encoder) -> str:
    """The cache file stem for this encoder's export: its name, plus what tells its weights apart."""
    if encoder.describe().get("weights") == RANDOM_WEIGHTS:
        return f"{encoder.name}-random"
    source = getattr(encoder, "weights_source", None)  # an explicit weights file, when one was given
    if source:
        stat = Path(source).stat()
        tag = hashlib.sha1(f"{Path(source).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        return f"{encoder.name}-{tag}"
    return encoder.name


class OnnxEncoder(Encoder):
    """Same name, sizes and preprocessing as the wrapped encoder; `encode` runs in ONNX Runtime."""

    def __init__(self, encoder: Encoder, cache_dir: Path | None = None, threads: int | None = None,
                 providers: list[str] | None = None):
        self.inner = encoder
        self.name, self.input_size = encoder.name, encoder.input_size
        self.feature_dim, self.grid_size = encoder.feature_dim, encoder.grid_size
        self.channels_last = bool(getattr(encoder, "onnx_channels_last", False))
        path = (cache_dir or onnx_cache_dir()) / f"{onnx_key(encoder)}.onnx"
        if not path.is_file():
            log.info("exporting %s to %s", encoder.name, path)
            if hasattr(encoder, "export_onnx"):
                encoder.export_onnx(path)
            else:
                export_trunk(encoder, path)
        self.session = ort_session(path, threads, providers)

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        return self.inner.scale(pixels)

    def classifier(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.inner.classifier()

    def describe(self) -> dict:
        return self.inner.describe()

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return run_trunk(self.session, batch, self.channels_last)


def maybe_onnx(encoder: Encoder, providers: list[str] | None = None) -> Encoder:
    """The ONNX Runtime version of `encoder` when it can be had; otherwise `encoder` itself."""
    if not (hasattr(encoder, "trunk") or getattr(encoder, "onnx_faster", False)):
        return encoder
    try:
        return OnnxEncoder(encoder, providers=providers)
    except Exception as exc:  # no onnxruntime, read-only cache, exporter failure: torch still works
        log.warning("ONNX Runtime not used for %s (%s); using PyTorch", encoder.name, exc)
        return encoder
