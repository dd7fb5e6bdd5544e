"""`captioner serve`."""

from __future__ import annotations

import argparse
from dataclasses import fields

from captioner.cli.parser import FETCH_HELP, SERVE_HELP
from captioner.errors import CaptionerError
from captioner.runtime.data.fetch import FetchPolicy
from captioner.serving.server import serve as run_server
from captioner.serving.settings import ServeSettings


def serve_settings(args: argparse.Namespace):
    """The resource-bound flags of `captioner serve` as ServeSettings (one-line error if not positive)."""
    fetch = FetchPolicy(**{f.name: getattr(args, "fetch_" + f.name) for f in fields(FetchPolicy) if f.name in FETCH_HELP})
    settings = ServeSettings(**{f.name: getattr(args, f.name) for f in fields(ServeSettings) if f.name in SERVE_HELP},
                             fetch=fetch)
    bad = [f"--{k.replace('_', '-')}" for k, v in vars(settings).items() if k != "fetch" and v <= 0]
    bad += [f"--fetch-{k.replace('_', '-')}" for k, v in vars(fetch).items() if k != "allow_loopback" and v < 0]
    if bad:
        raise CaptionerError(f"{', '.join(bad)} must be positive")
    return settings


def serve(args: argparse.Namespace) -> int:
    run_server(args.model, serve_settings(args), args.host, args.port, args.device)
    return 0
