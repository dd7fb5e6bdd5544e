"""A model's ONNX export read back for inference: no torch, no PyTorch weights.

`<model>.onnx/bundle.json` holds what inference needs from the bundle (vocabulary, encoder
description and input scaling, scores); `encoder.onnx` + `encoder.npz` are the image encoder's
trunk and ImageNet head; the decoder runners are in inference/onnx_decoder.py. Written by
`captioner export-onnx` (inference/onnx_export.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from captioner.data.vocab import Vocabulary
from captioner.encoders.base import Encoder
from captioner.encoders.onnx_runtime import run_trunk
from captioner.errors import CaptionerError
from captioner.inference.onnx_decoder import _session, rebuild_hint

EXPORT_FORMAT = "captioner-onnx/1"


@dataclass
class ExportedBundle:
    """What inference reads of a model bundle (the same names as ModelBundle where they overlap)."""

    vocab: Vocabulary
    encoder: dict
    trained_size: int
    decoder_config: dict
    has_language_model: bool
    info: dict = field(default_factory=dict)


def read_exported(folder: Path, model_path: str | Path, digest: str) -> tuple[ExportedBundle, bool] | None:
    """(bundle, whether the encoder is exported too), or None when there is no usable bundle.json."""
    path = folder / "bundle.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != EXPORT_FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        bundle = ExportedBundle(Vocabulary(data["vocab"]), data["encoder"], int(data["trained_size"]),
                                data["decoder_config"], bool(data["language_model"]), data.get("info", {}))
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptionerError(f"{path}: damaged ({type(exc).__name__}); {rebuild_hint(model_path)}") from None
    if data.get("bundle_sha256") != digest:
        return None  # exported from another version of the model: the caller re-exports or uses torch
    return bundle, bool(data.get("encoder_exported"))


class ExportedEncoder(Encoder):
    """The encoder's trunk in ONNX Runtime with its recorded scaling and ImageNet head."""

    def __init__(self, folder: Path, model_path: str | Path, threads: int | None = None,
                 providers: list[str] | None = None):
        self.session, meta = _session(folder / "encoder.onnx", model_path, threads, providers)
        self.name, self.input_size = meta["name"], int(meta["input_size"])
        self.feature_dim, self.grid_size = int(meta["feature_dim"]), int(meta["grid_size"])
        self.offset, self.divisor = (float(v) for v in meta["affine"])
        self.weights = meta.get("weights")
        head = folder / "encoder.npz"
        try:
            with np.load(head) as data:
                self.head = (data["weight"].astype(np.float32), data["bias"].astype(np.float32)) if "weight" in data else None
        except (OSError, ValueError, KeyError) as exc:
            raise CaptionerError(f"{head}: missing or damaged ({type(exc).__name__}); {rebuild_hint(model_path)}") from None

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels - self.offset) / self.divisor

    def classifier(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.head

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return run_trunk(self.session, batch)

    def describe(self) -> dict:
        described = super().describe()
        return {**described, "weights": self.weights} if self.weights else described
