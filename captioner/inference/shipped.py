"""Where models are: shipped ones by name (captioner/models/<name>.pt), any other by path. No torch here."""

from __future__ import annotations

from pathlib import Path

from captioner.errors import CaptionerError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "default"


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
