"""Shared fixtures: the real Flickr8k copy beside the project, and small generated images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLICKR = Path(os.environ.get("CAPTIONER_DATASET", ROOT.parent / "shared" / "data" / "flickr8k"))
COCO_DEV = Path(os.environ.get("CAPTIONER_COCO_DEV", ROOT.parent / "shared" / "data" / "coco-dev"))


@pytest.fixture(scope="session")
def flickr_root() -> Path:
    if not (FLICKR / "Flickr8k.token.txt").is_file():
        pytest.skip(f"Flickr8k not found at {FLICKR} (set CAPTIONER_DATASET)")
    return FLICKR


@pytest.fixture(scope="session")
def flickr_images(flickr_root: Path) -> list[Path]:
    """A few real test-split photos: two dogs and one other scene, stable across runs."""
    names = (flickr_root / "Flickr_8k.testImages.txt").read_text().split()
    return [flickr_root / "images" / n for n in names[:6]]


@pytest.fixture(scope="session")
def coco_dev() -> Path:
    """The 169 everyday COCO photos with their captions (set CAPTIONER_COCO_DEV to move it)."""
    if not (COCO_DEV / "captions.json").is_file():
        pytest.skip(f"coco-dev not found at {COCO_DEV} (set CAPTIONER_COCO_DEV)")
    return COCO_DEV


@pytest.fixture(scope="session")
def shipped_captioner():
    """The shipped default model with grounding, loaded once for the tests that only read it."""
    from captioner.inference.captioner import Captioner

    return Captioner()
