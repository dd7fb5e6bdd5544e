"""Where training, extraction and evaluation run in PyTorch: `--device auto|cpu|cuda|mps`.
"auto" takes a CUDA GPU when one is visible, then Apple's MPS, else the CPU; asking for a device
that is not there is a one-line error."""

from __future__ import annotations

import torch

from captioner.errors import CaptionerError
from captioner.runtime.devices import check_device
from captioner.settings import DEFAULT_DEVICE


def torch_device(name: str = DEFAULT_DEVICE):
    """The torch.device for `name`."""
    check_device(name)
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise CaptionerError("--device cuda: PyTorch sees no CUDA GPU here (a CPU-only build, or no driver)")
    if name == "mps" and not mps:
        raise CaptionerError("--device mps: PyTorch sees no Apple MPS device here")
    return torch.device(name)
