"""Where the work runs: `--device auto|cpu|cuda|mps`, for PyTorch (training, extraction, evaluation)
and for ONNX Runtime (captioning, serving). "auto" takes a CUDA GPU when one is visible, then
Apple's MPS (PyTorch only), else the CPU; asking for a device that is not there is a one-line error.
"""

from __future__ import annotations

from captioner.errors import CaptionerError

DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEVICE = "auto"


def _check(name: str) -> None:
    if name not in DEVICES:
        raise CaptionerError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")


def torch_device(name: str = DEFAULT_DEVICE):
    """The torch.device for `name`."""
    import torch

    _check(name)
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise CaptionerError("--device cuda: PyTorch sees no CUDA GPU here (a CPU-only build, or no driver)")
    if name == "mps" and not mps:
        raise CaptionerError("--device mps: PyTorch sees no Apple MPS device here")
    return torch.device(name)


def onnx_providers(name: str = DEFAULT_DEVICE) -> list[str]:
    """ONNX Runtime execution providers for `name` (CPU always last, as the fallback)."""
    import onnxruntime as ort

    _check(name)
    available = ort.get_available_providers()
    if name in ("cpu", "mps") or (name == "auto" and "CUDAExecutionProvider" not in available):
        if name == "mps":
            raise CaptionerError("--device mps: captioning runs in ONNX Runtime, on cpu or cuda")
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        raise CaptionerError("--device cuda: this ONNX Runtime has no CUDA provider (pip install onnxruntime-gpu)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]
