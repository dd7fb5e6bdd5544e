"""A model's files, resolved once: its bundle (`.pt`), that file's SHA-256, and its ONNX export.

Shipped models are found by name in captioner/models/; any other by path. The export of a model is
either beside it (`<model>.onnx/`, as shipped) or in the cache (`onnx/decoders/<sha256[:16]>/`),
where `captioner export-onnx` or the first load of a trained model writes it. No torch here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from captioner.errors import CaptionerError
from captioner.runtime.encoders.onnx_runtime import onnx_cache_dir
from captioner.settings import DEFAULT_MODEL, SHIPPED_DIR


def shipped_models() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.pt"))


def resolve_model(name_or_path: str | Path | None) -> Path:
    """A shipped model's name (default, ...) or a path to a .pt bundle."""
    name = str(name_or_path or DEFAULT_MODEL)
    path = Path(name)
    if path.suffix == ".pt" or path.exists():
        if not path.is_file():
            raise CaptionerError(f"model file not found: {path}")
        return path
    shipped = SHIPPED_DIR / f"{name}.pt"
    if not shipped.is_file():
        raise CaptionerError(f"unknown model {name!r}; shipped models: {', '.join(shipped_models()) or 'none'}")
    return shipped


def bundle_digest(path: str | Path) -> str:
    """SHA-256 of a bundle file: the key that ties an export to the exact weights it came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def onnx_folder(model_path: str | Path) -> Path:
    """Where a bundle's ONNX export lives when shipped: `<model>.onnx/` beside `<model>.pt`."""
    path = Path(model_path)
    return path.with_name(path.stem + ".onnx")


def rebuild_hint(model_path: str | Path) -> str:
    return f"rebuild it with `captioner export-onnx --model {model_path}`"


@dataclass(frozen=True)
class ModelFiles:
    path: Path  # the .pt bundle
    digest: str  # its SHA-256

    @property
    def beside(self) -> Path:
        """The export shipped beside the model."""
        return onnx_folder(self.path)

    @property
    def cached(self) -> Path:
        """The export made for this exact file in the user's cache."""
        return onnx_cache_dir() / "decoders" / self.digest[:16]

    @property
    def export_folders(self) -> tuple[Path, Path]:
        """Where the export may be, in the order they are tried."""
        return self.beside, self.cached

    @property
    def decoder_folder(self) -> Path:
        """The folder whose decoder graphs are used: the shipped one when it exists, else the cache."""
        return self.beside if self.beside.is_dir() else self.cached


def resolve_files(name_or_path: str | Path | None) -> ModelFiles:
    """A model name or path -> its files (the bundle hashed once)."""
    path = resolve_model(name_or_path)
    return ModelFiles(path, bundle_digest(path))


def source_suffix(source: int | None) -> str:
    """The file-name suffix of a caption source's own decoder graphs (init-s1.onnx, step-s1.onnx);
    "" for the main decoder (source None)."""
    return "" if source is None else f"-s{int(source)}"
