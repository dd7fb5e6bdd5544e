"""The one small interface every encoder implements, whatever framework runs it."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image

from captioner.runtime.data.images import resize_square
from captioner.errors import CaptionerError

RANDOM_WEIGHTS = "random"  # the weights value for an untrained network, marked as such in describe()


class Encoder(ABC):
    """Image batch -> (pooled features, grid features), both plain float32 numpy arrays."""

    name: str
    input_size: int  # square side in pixels
    feature_dim: int  # channels of the pooled vector and of each grid cell
    grid_size: int  # side of the spatial grid (grid has grid_size**2 cells)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> (input_size, input_size, 3) as `encode` takes it: float32 scaled as this
        network expects (an export that scales in its graph takes the resized uint8 pixels)."""
        pixels = resize_square(image, self.input_size).astype(np.float32)  # (H, W, 3)
        return self.scale(pixels)

    @abstractmethod
    def scale(self, pixels: np.ndarray) -> np.ndarray:
        """Map 0..255 RGB values to the network's input range."""

    @abstractmethod
    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W, 3) preprocessed -> pooled (B, D) and grid (B, grid_size**2, D)."""

    def encode_with_classes(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`encode`, plus the ImageNet probabilities (B, 1000) when the encoder computes them in the
        same run (None: the caller applies `classifier()` itself)."""
        return (*self.encode(batch), None)

    def classifier(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The network's ImageNet head on the pooled vector: weight (1000, D), bias (1000,); None if it has none."""
        return None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "input_size": self.input_size,
            "feature_dim": self.feature_dim,
            "grid_size": self.grid_size,
        }


