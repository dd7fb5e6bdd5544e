"""`captioner evaluate`."""

from __future__ import annotations

import argparse

from captioner.cli.parser import caption_options
from captioner.errors import CaptionerError
from captioner.evaluation.evaluate import EvalConfig, evaluate as run_evaluation, format_report, report_path
from captioner.runtime.grounding.grounding import GroundingConfig


def evaluate(args: argparse.Namespace) -> int:
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or set(modes) - {"beam", "greedy"}:
        raise CaptionerError("--modes takes beam, greedy or beam,greedy")
    output = args.output_json or report_path(args.dataset, args.split, args.model)
    report = run_evaluation(EvalConfig(
        model=args.model, dataset=args.dataset, split=args.split, cache_dir=args.cache_dir,
        search=caption_options(args).search, modes=modes, grounding=None if args.no_grounding else GroundingConfig(),
        output_json=output, limit=args.limit, meteor=not args.no_meteor, encoder_weights=args.encoder_weights,
        progress=not args.no_progress, backend=args.backend, device=args.device))
    print(format_report(report))
    print(f"per-image captions: {output}")
    return 0
