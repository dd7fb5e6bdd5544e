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
from PIL import Image

from captioner.runtime.data.images import resize_square
from captioner.runtime.data.vocab import Vocabulary
from captioner.runtime.encoders.base import Encoder
from captioner.runtime.encoders.onnx_runtime import run_trunk
from captioner.errors import CaptionerError
from captioner.runtime.model.files import rebuild_hint
from captioner.runtime.model.runners import _session

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
    has_background_lm: bool = False
    source_offsets: np.ndarray | None = None  # (S, D) the decoder's per-source feature shifts (DecoderConfig.sources)
    source_decoders: tuple[int, ...] = ()  # caption sources with decoders of their own (init-s1.onnx, step-s1.onnx)
    shared_init: tuple[int, ...] = ()  # of those, the ones that start from the main decoder's init.onnx


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
                                data["decoder_config"], bool(data["language_model"]), data.get("info", {}),
                                bool(data.get("background_lm", False)),
                                None if data.get("source_offsets") is None else np.asarray(data["source_offsets"], np.float32),
                                tuple(int(source) for source in data.get("source_decoders", ())),
                                tuple(int(source) for source in data.get("shared_init", ())))
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptionerError(f"{path}: damaged ({type(exc).__name__}); {rebuild_hint(model_path)}") from None
    if data.get("bundle_sha256") != digest:
        return None  # exported from another version of the model: the caller re-exports or uses torch
    return bundle, bool(data.get("encoder_exported"))


class ExportedEncoder(Encoder):
    """The encoder's ONNX export with its recorded scaling and ImageNet head.

    Exports from inference/onnx_export.py take the resized uint8 pixels and give pooled features,
    the grid and the ImageNet probabilities in one run (`preprocess` then only resizes); older ones
    (float pixels in, the trunk's grid out) are run as before, with the head in numpy."""

    def __init__(self, folder: Path, model_path: str | Path, threads: int | None = None,
                 providers: list[str] | None = None):
        self.path = folder / "encoder.onnx"
        self.session, meta = _session(self.path, model_path, threads, providers)
        self.name, self.input_size = meta["name"], int(meta["input_size"])
        self.feature_dim, self.grid_size = int(meta["feature_dim"]), int(meta["grid_size"])
        self.offset, self.divisor = (float(v) for v in meta["affine"])
        self.weights = meta.get("weights")
        self.takes_uint8 = self.session.get_inputs()[0].type == "tensor(uint8)"
        self.outputs = [o.name for o in self.session.get_outputs()]
        head = folder / "encoder.npz"
        try:
            with np.load(head) as data:
                self.head = (data["weight"].astype(np.float32), data["bias"].astype(np.float32)) if "weight" in data else None
        except (OSError, ValueError, KeyError) as exc:
            raise CaptionerError(f"{head}: missing or damaged ({type(exc).__name__}); {rebuild_hint(model_path)}") from None

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> (input_size, input_size, 3): uint8 when the graph scales, else float32 scaled."""
        if self.takes_uint8:
            return resize_square(image, self.input_size)  # (H, W, 3) uint8
        return super().preprocess(image)

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels - self.offset) / self.divisor

    def classifier(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.head

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.encode_with_classes(batch)[:2]

    def encode_with_classes(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if not self.takes_uint8:
            return (*run_trunk(self.session, batch), None)
        if batch.dtype != np.uint8:
            raise ValueError(f"{self.name}'s ONNX export takes the uint8 pixels of `preprocess`, not {batch.dtype}")
        found = dict(zip(self.outputs, self.session.run(None, {"pixels": np.ascontiguousarray(batch)})))
        return found["pooled"], found["grid"], found.get("probs")  # (B, D), (B, g*g, D), (B, 1000) or None

    def describe(self) -> dict:
        described = super().describe()
        return {**described, "weights": self.weights} if self.weights else described
