"""The originals' Keras encoders (Xception, InceptionV3, DenseNet201), head removed, average-pooled.

Optional extra: `pip install captioner[keras]` (tensorflow-cpu). Weights come from the standard
Keras file name found locally, or from Keras' usual download where the internet is reachable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captioner.encoders.base import Encoder, find_weights
from captioner.errors import CaptionerError


@dataclass(frozen=True)
class KerasSpec:
    constructor: str  # attribute of keras.applications
    weights_file: str
    input_size: int
    feature_dim: int
    grid_size: int
    scaling: str  # "tf": x/127.5 - 1 ; "torch": ImageNet mean/std


SPECS = {
    "xception": KerasSpec("Xception", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", 299, 2048, 10, "tf"),
    "keras-inception-v3": KerasSpec(
        "InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 299, 2048, 8, "tf"
    ),
    "densenet201": KerasSpec("DenseNet201", "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5", 224, 1920, 7, "torch"),
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class KerasEncoder(Encoder):
    def __init__(self, name: str, weights: str | os.PathLike | None = None, allow_download: bool = True):
        if name not in SPECS:
            raise CaptionerError(f"unknown Keras encoder {name!r}; choose from {sorted(SPECS)}")
        spec = SPECS[name]
        self.name, self.spec = name, spec
        self.input_size, self.feature_dim, self.grid_size = spec.input_size, spec.feature_dim, spec.grid_size
        try:
            from tensorflow import keras  # noqa: PLC0415 - optional, heavy
        except ImportError:
            raise CaptionerError(
                f"encoder {name!r} needs TensorFlow: pip install 'captioner[keras]' (tensorflow-cpu)"
            ) from None
        keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        path = find_weights(spec.weights_file, weights, [keras_cache])
        if path is None and not allow_download:
            raise CaptionerError(
                f"{name} weights {spec.weights_file} not found (give --encoder-weights or set CAPTIONER_WEIGHTS_DIR)"
            )
        constructor = getattr(keras.applications, spec.constructor)
        try:
            self.model = constructor(include_top=False, weights=str(path) if path else "imagenet", pooling=None)
        except Exception as exc:  # network failure or bad file: keras raises many types
            raise CaptionerError(
                f"cannot load {name} weights ({'file ' + str(path) if path else 'download'} failed: {exc}); "
                f"put {spec.weights_file} in $CAPTIONER_WEIGHTS_DIR or ~/.keras/models"
            ) from None

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        if self.spec.scaling == "tf":
            return pixels / 127.5 - 1.0
        return (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = np.asarray(self.model(batch, training=False), dtype=np.float32)  # (B, g, g, D)
        cells = grid.reshape(grid.shape[0], -1, grid.shape[-1])  # (B, g*g, D)
        return cells.mean(axis=1), cells
