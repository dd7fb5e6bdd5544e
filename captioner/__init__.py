"""captioner: a CNN + LSTM image-caption generator trained on Flickr8k, grounded in what the CNN sees.

    import captioner
    model = captioner.load()
    print(model("photo.jpg").caption)

`load` is the package's front door: it resolves the model once and hands back the runtime's
`CaptionModel` (ONNX Runtime, no torch; a model without an ONNX export is exported on first use,
which needs PyTorch). Heavy modules are imported on first use, so `import captioner` and the
command line's --help stay quick.
"""

from __future__ import annotations

import os

from captioner.errors import CaptionerError, ImageError, InputError

__version__ = "0.1.0"
__all__ = ["load", "CaptionModel", "CaptionOptions", "CaptionResult", "CaptionerError", "ImageError", "InputError",
           "__version__"]


def load(model: str | os.PathLike | None = None, *, grounding=True, encoder_weights: str | None = None,
         backend: str = "auto", device: str = "auto", fetch_policy=None):
    """Load a model once: a shipped name ("default", "lite2-add", ...), a .pt path, or None for the default.

    grounding: True (the calibrated settings), False (never ground), or a GroundingConfig.
    backend: "auto" runs the model in ONNX Runtime (its export), "torch" in PyTorch.
    device: "auto" (a CUDA GPU when ONNX Runtime has one, else the CPU), "cpu" or "cuda".
    fetch_policy: how image URLs are fetched (captioner.runtime.data.fetch.FetchPolicy).
    """
    from captioner.export.loading import load_captioner  # heavy: loaded on first use (see the docstring)
    from captioner.runtime.api import CaptionModel

    captioner = load_captioner(model, encoder_weights, backend, grounding, device)
    return CaptionModel(captioner, fetch_policy)


def __getattr__(name: str):
    if name == "CaptionModel":
        from captioner.runtime.api import CaptionModel

        return CaptionModel
    if name == "CaptionResult":
        from captioner.runtime.model.result import CaptionResult

        return CaptionResult
    if name == "CaptionOptions":
        from captioner.runtime.options import CaptionOptions

        return CaptionOptions
    raise AttributeError(f"module 'captioner' has no attribute {name!r}")
