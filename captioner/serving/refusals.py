"""Serving's edge: every refusal becomes one HTTP status here, and nowhere below.

The runtime layers raise `InputError`s that say how the input is wrong (`reason`); `status_of` maps
a reason to its status. Refusals that only a server makes (busy, the client left) are
`RequestRefused`, which carry their status themselves.
"""

from __future__ import annotations

from captioner.errors import REASONS, CaptionerError, InputError

STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "timeout": 408, "too_large": 413,
          "unsupported": 415, "unreadable": 422}
assert set(STATUS) == set(REASONS), "every input reason needs a status"


class RequestRefused(CaptionerError):
    """A request the server itself refuses (busy, client gone), with its status."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


class ClientGone(RequestRefused):
    """The client left before its turn: nobody reads the answer, so it is not computed."""

    def __init__(self):
        super().__init__("the client closed the request", 499)


REFUSALS = (InputError, RequestRefused)  # what the app answers with a status instead of a 500


def status_of(exc: InputError | RequestRefused) -> int:
    """The HTTP status of a refusal."""
    return exc.status_code if isinstance(exc, RequestRefused) else STATUS[exc.reason]
