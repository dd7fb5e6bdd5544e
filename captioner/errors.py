"""One exception type whose message is shown to users as a single line (no traceback)."""


class CaptionerError(Exception):
    """A user-facing error: bad input, missing file, missing weights."""


class RequestRefused(CaptionerError):
    """A request the web service answers with a 4xx/5xx status and this one-line message."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


class ImageError(RequestRefused):
    """The bytes given are not an image we can caption (corrupt, too large, unknown format)."""

    def __init__(self, message: str, status_code: int = 422):
        super().__init__(message, status_code)
