"""captioner: a CNN + LSTM image-caption generator trained on Flickr8k, grounded in what the CNN sees.

    import captioner
    model = captioner.load()
    print(model("photo.jpg").caption)

Heavy modules (torch, ONNX Runtime) are imported on first use, so `import captioner` and the
command line's --help stay quick.
"""

from captioner.errors import CaptionerError, ImageError

__version__ = "0.1.0"
__all__ = ["load", "CaptionModel", "CaptionResult", "CaptionerError", "ImageError", "__version__"]


def load(model=None, **options):
    """Load a model: see `captioner.inference.api.load` (shipped name, .pt path, or None for the default)."""
    from captioner.inference.api import load as _load

    return _load(model, **options)


def __getattr__(name: str):
    if name == "CaptionModel":
        from captioner.inference.api import CaptionModel

        return CaptionModel
    if name == "CaptionResult":
        from captioner.inference.captioner import CaptionResult

        return CaptionResult
    raise AttributeError(f"module 'captioner' has no attribute {name!r}")
