"""One settings object: every path, environment variable, device name and package-wide default.

Every other module reads its defaults from here, so each is written once. `Settings.from_env()`
reads the environment when it is called (a test or a user may change it between calls).

    CAPTIONER_DATASET      the dataset folder commands use when --dataset is not given
    CAPTIONER_CACHE        the feature cache root (extract-features, train, evaluate)
    CAPTIONER_CACHE_HOME   where exports of encoders and models are cached (else
                           $XDG_CACHE_HOME/captioner, else ~/.cache/captioner)
    CAPTIONER_WEIGHTS_DIR  a folder of encoder weight files (the originals' Keras weights)
    CAPTIONER_OFFLINE=1    never download weights
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = PACKAGE_DIR / "models"  # shipped model files: <name>.pt, <name>.onnx/, concepts-<encoder>.npz
DEFAULT_MODEL = "default"
DEFAULT_ENCODER = "efficientnet-lite2"
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: a CUDA GPU when visible, else MPS (PyTorch only), else the CPU
DEFAULT_DEVICE = "auto"
BATCH_SIZE = 8  # images per pass through the encoder when captioning many
DATASET_ENV, CACHE_ENV, CACHE_HOME_ENV = "CAPTIONER_DATASET", "CAPTIONER_CACHE", "CAPTIONER_CACHE_HOME"
WEIGHTS_DIR_ENV, OFFLINE_ENV = "CAPTIONER_WEIGHTS_DIR", "CAPTIONER_OFFLINE"


@dataclass(frozen=True)
class Settings:
    dataset: str = "data/flickr8k"
    feature_cache: str = "cache/features"
    cache_home: Path = Path.home() / ".cache" / "captioner"
    weights_dir: Path | None = None
    offline: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        home = env.get(CACHE_HOME_ENV) or Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "captioner"
        return cls(dataset=env.get(DATASET_ENV) or cls.dataset, feature_cache=env.get(CACHE_ENV) or cls.feature_cache,
                   cache_home=Path(home), weights_dir=Path(env[WEIGHTS_DIR_ENV]) if env.get(WEIGHTS_DIR_ENV) else None,
                   offline=env.get(OFFLINE_ENV) == "1")


def settings() -> Settings:
    """The settings of this moment's environment."""
    return Settings.from_env()
