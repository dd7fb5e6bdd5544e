"""Decoder: the LSTM language model conditioned on image features, one class per conditioning style.

Names are imported on first use (PEP 562), so `captioner.decoder.config` stays free of torch.
"""

from captioner.decoder.config import DecoderConfig

__all__ = ["CaptionDecoder", "DecoderConfig", "DECODERS", "MERGE_STYLES", "register"]


def __getattr__(name: str):
    if name in ("CaptionDecoder", "DECODERS", "register"):
        from captioner.decoder import base

        return getattr(base, name)
    if name == "MERGE_STYLES":
        from captioner.decoder.registry import MERGE_STYLES

        return MERGE_STYLES
    raise AttributeError(f"module 'captioner.decoder' has no attribute {name!r}")
