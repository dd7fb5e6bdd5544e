"""The one decoder factory: a style's name (DecoderConfig.style, a key of config.STYLES) -> its class."""

from __future__ import annotations

import importlib

from captioner.training.networks.base import Decoder
from captioner.training.networks.config import STYLES, DecoderConfig


def register(name: str, cls: type[Decoder]) -> None:
    """Make a decoder style available by name (to DecoderConfig.style, training, model files and the CLI)."""
    STYLES[name] = cls


def decoder_class(name: str) -> type[Decoder]:
    if name not in STYLES:
        raise ValueError(f"style must be one of {tuple(STYLES)}, not {name!r}")
    found = STYLES[name]
    if isinstance(found, str):  # "module:Class": the style's module loads when the style is used
        module, _, attribute = found.partition(":")
        found = STYLES[name] = getattr(importlib.import_module(module), attribute)
    return found


def build_decoder(config: DecoderConfig) -> Decoder:
    """The decoder `config.style` names, with fresh weights."""
    return decoder_class(config.style)(config)


def uses_grid(config: DecoderConfig) -> bool:
    """Whether decoders of this config read the spatial grid (else only the pooled vector)."""
    return decoder_class(config.style).uses_grid
