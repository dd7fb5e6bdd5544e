"""The one way to load a model: a name or path resolves to its files once, then to the runtime's
`Captioner`.

A model with an ONNX export (shipped ones, and any model exported or loaded once before) loads from
it, without torch. Otherwise (a model just trained, an explicit encoder weights file, or
backend="torch") PyTorch builds the parts (export/from_torch.py); with backend "auto" that first
load also exports the model into the cache, so the next one needs no torch.
"""

from __future__ import annotations

import importlib.util
import os

from captioner.errors import CaptionerError
from captioner.runtime.devices import onnx_providers
from captioner.runtime.grounding.grounding import GroundingConfig
from captioner.runtime.model.captioner import Captioner, load_exported, usable_export
from captioner.runtime.model.files import ModelFiles, resolve_files

BACKENDS = ("auto", "torch")


def load_captioner(model: str | os.PathLike | None = None, encoder_weights: str | None = None, backend: str = "auto",
                   grounding: GroundingConfig | bool = True, device: str = "auto") -> Captioner:
    """model: a shipped name, a .pt path, or None for the default. backend: "auto" runs encoder and
    decoder in ONNX Runtime (exported on first use when a model has none), "torch" in PyTorch.
    device: auto, cpu or cuda (runtime.devices; mps too with the PyTorch backend)."""
    if backend not in BACKENDS:
        raise CaptionerError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    files = resolve_files(None if model is None else str(model))
    if backend == "auto" and encoder_weights is None:
        exported = load_exported(files, onnx_providers(device))
        if exported is not None:
            return Captioner(files, *exported, grounding=grounding)
    return _from_torch(files, encoder_weights, backend, grounding, device)


def ensure_exported(model: str | os.PathLike | None = None) -> ModelFiles:
    """The model's files, its ONNX export made first (with PyTorch) when it has none: what the
    runtime's `Captioner.load` needs (batch engines call it once, before their workers load)."""
    files = resolve_files(None if model is None else str(model))
    if usable_export(files) is None:  # bundle.json alone: no ONNX Runtime session is opened here
        _from_torch(files, None, "auto", False, "auto")
    return files


def _from_torch(files: ModelFiles, encoder_weights: str | None, backend: str, grounding, device: str) -> Captioner:
    if importlib.util.find_spec("torch") is None:
        raise CaptionerError(f"{files.path} has no ONNX export here and PyTorch is not installed: install "
                             "captioner[train] (./install.sh), or export it where torch is "
                             f"(`captioner export-onnx --model {files.path}`)")
    from captioner.export import from_torch  # torch: only for a model without an export (layer contract)

    return from_torch.load(files, encoder_weights, backend, grounding, device)
