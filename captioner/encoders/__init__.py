"""Encoders: pretrained ImageNet CNNs that turn images into a pooled vector and a spatial grid."""

from captioner.encoders.base import Encoder
from captioner.encoders.registry import ENCODER_NAMES, create_encoder

__all__ = ["Encoder", "ENCODER_NAMES", "create_encoder"]
