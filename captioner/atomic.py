"""Write files so that a crash never leaves a half-written cache, checkpoint or log behind."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _take_mode(tmp: Path, target: Path) -> None:
    """Give the finished temporary file the mode (and, where allowed, owner) of the file it replaces,
    or a new file's usual mode under the umask (mkstemp makes it 0600)."""
    try:
        info = target.stat()
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~current_umask())
        return
    os.chmod(tmp, info.st_mode & 0o7777)
    if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (tmp.stat().st_uid, tmp.stat().st_gid):
        try:
            os.chown(tmp, info.st_uid, info.st_gid)
        except PermissionError:
            pass  # not ours to give away: the content is still written whole


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The result keeps the mode and owner of the file it replaces; a new file gets the umask's mode."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _take_mode(tmp, target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
