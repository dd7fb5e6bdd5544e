"""The package's exceptions: messages shown to users as a single line (no traceback).

The runtime layers say *what kind* of bad input they met (`InputError.reason`); only serving turns a
reason into an HTTP status, at its edge (captioner/serving/refusals.py).
"""

# what an input can be wrong by; serving maps each to one HTTP status
REASONS = ("invalid", "forbidden", "not_found", "timeout", "too_large", "unsupported", "unreadable")


class CaptionerError(Exception):
    """A user-facing error: bad input, missing file, missing weights."""


class InputError(CaptionerError):
    """Input the caller can correct; `reason` (one of REASONS) says how it is wrong."""

    def __init__(self, message: str, reason: str = "invalid"):
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, not {reason!r}")
        super().__init__(message)
        self.reason = reason


class ImageError(InputError):
    """The bytes given are not an image we can caption (corrupt, too large, unknown format)."""

    def __init__(self, message: str, reason: str = "unreadable"):
        super().__init__(message, reason)
