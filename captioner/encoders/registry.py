"""Create an encoder by name; heavy frameworks are imported only when their encoder is asked for."""

from __future__ import annotations

import os

from captioner.encoders.base import Encoder
from captioner.errors import CaptionerError

ENCODER_NAMES = (
    "efficientnet-lite2",
    "efficientnet-lite0",
    "inception-v3",
    "xception",
    "keras-inception-v3",
    "densenet201",
)
DEFAULT_ENCODER = "efficientnet-lite2"


def create_encoder(name: str = DEFAULT_ENCODER, weights: str | os.PathLike | None = None) -> Encoder:
    if name.startswith("efficientnet-lite"):
        from captioner.encoders.efficientnet_lite import EfficientNetLiteEncoder

        return EfficientNetLiteEncoder(name, weights)
    if name == "inception-v3":
        from captioner.encoders.inception_v3 import InceptionV3Encoder

        return InceptionV3Encoder(weights)
    if name in ("xception", "keras-inception-v3", "densenet201"):
        from captioner.encoders.keras_apps import KerasEncoder

        return KerasEncoder(name, weights)
    raise CaptionerError(f"unknown encoder {name!r}; choose from {', '.join(ENCODER_NAMES)}")
