"""Where an encoder's weight file is: an explicit path, else $CAPTIONER_WEIGHTS_DIR, else given folders."""

from __future__ import annotations

import os
from pathlib import Path

from captioner.errors import CaptionerError
from captioner.settings import settings


def find_weights(file_name: str, explicit: str | os.PathLike | None, search_dirs: list[Path]) -> Path | None:
    """Find a weight file by explicit path, then $CAPTIONER_WEIGHTS_DIR, then the given folders."""
    if explicit:
        path = Path(explicit)
        if path.is_dir():
            path = path / file_name
        if not path.is_file():
            raise CaptionerError(f"weights file not found: {path}")
        return path
    dirs = [settings().weights_dir] if settings().weights_dir else []
    dirs.extend(search_dirs)
    for folder in dirs:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    return None
