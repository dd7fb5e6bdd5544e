"""Shared fixtures: the real Flickr8k copy beside the project, and small generated images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLICKR = Path(os.environ.get("CAPTIONER_DATASET", ROOT.parent / "shared" / "data" / "flickr8k"))


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
