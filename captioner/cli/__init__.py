"""The `captioner` command: train, self-critical, evaluate, caption, extract-features, serve, models, export-onnx.

The flags come from cli/parser.py (torch-free). Each command's code is a module of this package,
imported when that command runs (the one import made inside a function here, by the table below):
so `captioner caption` and `captioner serve` never load torch, and `--help` stays quick.
"""

from __future__ import annotations

import importlib
import logging
import sys

from captioner.cli.parser import build_parser
from captioner.errors import CaptionerError

# command -> "module:function" (the module is imported when the command runs)
COMMANDS = {
    "train": "captioner.cli.train:train",
    "self-critical": "captioner.cli.train:self_critical",
    "evaluate": "captioner.cli.evaluate:evaluate",
    "caption": "captioner.cli.caption:caption",
    "extract-features": "captioner.cli.extract:extract",
    "serve": "captioner.cli.serve:serve",
    "models": "captioner.cli.models:models",
    "export-onnx": "captioner.cli.models:export_onnx",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.verbose:
        logging.getLogger("captioner").setLevel(logging.INFO)
    module, _, function = COMMANDS[args.command].partition(":")
    try:
        return getattr(importlib.import_module(module), function)(args)
    except CaptionerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
