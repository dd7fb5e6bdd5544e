"""Decoder: the LSTM language model conditioned on image features."""

from captioner.decoder.lstm import MERGE_STYLES, CaptionDecoder, DecoderConfig

__all__ = ["CaptionDecoder", "DecoderConfig", "MERGE_STYLES"]
