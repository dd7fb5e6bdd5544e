"""One exception type whose message is shown to users as a single line (no traceback)."""


class CaptionerError(Exception):
    """A user-facing error: bad input, missing file, missing weights."""


class ImageError(CaptionerError):
    """The bytes given are not an image we can caption (corrupt, too large, unknown format)."""

    def __init__(self, message: str, status_code: int = 422):
        super().__init__(message)
        self.status_code = status_code
