"""Encoders at run time: the interface every encoder has, their names, and exported trunks in ONNX Runtime."""

from captioner.runtime.encoders.base import Encoder
from captioner.runtime.encoders.registry import ENCODER_NAMES

__all__ = ["Encoder", "ENCODER_NAMES"]
