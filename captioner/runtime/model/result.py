"""The one result type: what captioning one image gives, and its one JSON form (`to_dict`), which
the CLI's --json, the web API, batch output files and Ray all write."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from captioner.errors import CaptionerError


@dataclass
class CaptionResult:
    caption: str = ""
    alternatives: list[dict] = field(default_factory=list)  # [{"caption", "score", "log_prob"}], best first
    concepts: dict | None = None  # ImageConcepts.to_dict() when grounded
    attention: list[dict] | None = None  # [{"word": str, "grid": [[float]*g]*g}] when asked (attention decoders)
    model: str | None = None  # the model's name
    encoder: str | None = None  # the encoder's name
    image: dict | None = None  # {"width", "height"} as decoded (and "bytes" when the bytes were given)
    source: str | None = None  # the path or URL it came from (None for bytes, arrays and uploads)
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage, per image
    cached: bool = False  # answered from the web service's cache
    error: str | None = None  # why this input could not be captioned (in a list of inputs)

    def to_dict(self) -> dict:
        """Plain JSON-able values, every key always present."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "CaptionResult":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @classmethod
    def failed(cls, why: str | BaseException, source: str | None = None) -> "CaptionResult":
        """The result of an input that could not be captioned: why, as text (see failure_text)."""
        return cls(error=why if isinstance(why, str) else failure_text(why), source=source)


def failure_text(exc: BaseException) -> str:
    """How every batch engine words a failed input: a CaptionerError's own one-line message, any
    other exception's type and message."""
    return str(exc) if isinstance(exc, CaptionerError) else f"{type(exc).__name__}: {exc}"


RESULT_KEYS = tuple(f.name for f in fields(CaptionResult))
