"""Decoder: the LSTM language model conditioned on image features, one class per conditioning style."""

from captioner.decoder.base import DECODERS, CaptionDecoder, DecoderConfig, register
from captioner.decoder.registry import MERGE_STYLES

__all__ = ["CaptionDecoder", "DecoderConfig", "DECODERS", "MERGE_STYLES", "register"]
