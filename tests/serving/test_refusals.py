"""Serving's edge: each input reason has one HTTP status; the server's own refusals carry theirs."""

import pytest

from captioner.errors import REASONS, ImageError, InputError
from captioner.runtime.data.fetch import FetchError
from captioner.serving.refusals import STATUS, ClientGone, RequestRefused, status_of


def test_every_reason_has_its_status():
    assert set(STATUS) == set(REASONS)
    assert [status_of(InputError("x", reason)) for reason in REASONS] == [400, 403, 404, 408, 413, 415, 422]
    assert status_of(ImageError("corrupt")) == 422 and status_of(FetchError("bad url")) == 400
    assert status_of(FetchError("private", "forbidden")) == 403


def test_the_server_s_own_refusals():
    assert status_of(RequestRefused("busy", 503)) == 503
    gone = ClientGone()
    assert status_of(gone) == 499 and str(gone) == "the client closed the request"


def test_an_unknown_reason_is_refused_at_once():
    with pytest.raises(ValueError, match="reason must be one of"):
        InputError("x", "teapot")
