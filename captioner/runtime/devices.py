"""Where captioning runs: `--device auto|cpu|cuda` for ONNX Runtime (PyTorch's side, with MPS too:
captioner/training/devices.py). "auto" takes a CUDA GPU when one is visible, then
Apple's MPS (PyTorch only), else the CPU; asking for a device that is not there is a one-line error.
"""

from __future__ import annotations

import onnxruntime as ort

from captioner.errors import CaptionerError
from captioner.settings import DEFAULT_DEVICE, DEVICES


def check_device(name: str) -> None:
    if name not in DEVICES:
        raise CaptionerError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")


def onnx_providers(name: str = DEFAULT_DEVICE) -> list[str]:
    """ONNX Runtime execution providers for `name` (CPU always last, as the fallback)."""
    check_device(name)
    available = ort.get_available_providers()
    if name in ("cpu", "mps") or (name == "auto" and "CUDAExecutionProvider" not in available):
        if name == "mps":
            raise CaptionerError("--device mps: captioning runs in ONNX Runtime, on cpu or cuda")
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        raise CaptionerError("--device cuda: this ONNX Runtime has no CUDA provider (pip install onnxruntime-gpu)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]
