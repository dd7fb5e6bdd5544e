"""Logistic-regression detectors for the concepts Flickr8k teaches, on pooled encoder features.

Saved as one small .npz per encoder: concept names, weights (C, D), biases (C,), and the absent
thresholds (C,) under which a concept is taken to be missing from the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from captioner.atomic import atomic_path
from captioner.errors import CaptionerError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"


def shipped_detectors(encoder_name: str) -> Path:
    return SHIPPED_DIR / f"concepts-{encoder_name}.npz"


@dataclass
class ConceptDetectors:
    encoder: str
    concepts: list[str]
    weight: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,)
    absent_below: np.ndarray  # (C,) probability under which the concept is taken to be absent

    def predict(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> probabilities (N, C)."""
        logits = np.asarray(pooled, np.float32) @ self.weight.T + self.bias  # (N, C)
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, encoder=np.array(self.encoder), concepts=np.array(self.concepts),
                     weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32),
                     absent_below=self.absent_below.astype(np.float32))

    @classmethod
    def load(cls, path: str | Path) -> "ConceptDetectors":
        path = Path(path)
        if not path.is_file():
            raise CaptionerError(f"concept detector file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                detectors = cls(str(data["encoder"]), [str(c) for c in data["concepts"]], data["weight"],
                                data["bias"], data["absent_below"])
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise CaptionerError(f"concept detector file {path} is corrupt ({type(exc).__name__}: {exc})") from None
        c = len(detectors.concepts)
        if detectors.weight.ndim != 2 or detectors.weight.shape[0] != c or detectors.bias.shape != (c,) \
                or detectors.absent_below.shape != (c,):
            raise CaptionerError(f"concept detector file {path} is corrupt (array shapes do not match)")
        return detectors


def fit_detectors(pooled: np.ndarray, labels: np.ndarray, concepts: list[str], encoder: str,
                  weight_decay: float = 1e-3, steps: int = 300, seed: int = 0) -> ConceptDetectors:
    """Logistic regression per concept: pooled (N, D), labels (N, C) in {0, 1}; full-batch L-BFGS."""
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(pooled, np.float32))  # (N, D)
    y = torch.as_tensor(np.asarray(labels, np.float32))  # (N, C)
    linear = torch.nn.Linear(x.shape[1], y.shape[1])
    torch.nn.init.zeros_(linear.weight)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear(x), y)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    weight = linear.weight.detach().numpy().copy()
    bias = linear.bias.detach().numpy().copy()
    return ConceptDetectors(encoder, list(concepts), weight, bias, np.full(len(concepts), 0.1, np.float32))
