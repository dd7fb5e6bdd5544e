"""The PyTorch (and Keras-on-PyTorch) ImageNet encoders, by name: feature extraction and export.

Each framework is imported when its encoder is asked for: Keras is an optional extra
(`./install.sh --originals`), and one encoder should not pay for another's imports.
"""

from __future__ import annotations

import os

from captioner.errors import CaptionerError
from captioner.runtime.encoders.base import Encoder
from captioner.runtime.encoders.registry import ENCODER_NAMES
from captioner.settings import DEFAULT_ENCODER


def create_encoder(name: str = DEFAULT_ENCODER, weights: str | os.PathLike | None = None) -> Encoder:
    if name.startswith("efficientnet-lite"):
        from captioner.training.encoders.efficientnet_lite import EfficientNetLiteEncoder

        return EfficientNetLiteEncoder(name, weights)
    if name == "inception-v3":
        from captioner.training.encoders.inception_v3 import InceptionV3Encoder

        return InceptionV3Encoder(weights)
    if name in ("xception", "keras-inception-v3", "densenet201"):
        from captioner.training.encoders.keras_apps import KerasEncoder

        return KerasEncoder(name, weights)
    raise CaptionerError(f"unknown encoder {name!r}; choose from {', '.join(ENCODER_NAMES)}")
