"""`captioner caption`: files, folders, globs, URLs or a listing in; captions printed, as JSON lines,
or written to a resumable file, on this machine or on Ray."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from captioner.atomic import write_text
from captioner.cli.parser import caption_options
from captioner.errors import CaptionerError
from captioner.export.loading import ensure_exported, load_captioner
from captioner.runtime.api import CaptionModel
from captioner.runtime.batch.metadata import write_caption_metadata
from captioner.runtime.batch.outputs import ResultWriter
from captioner.runtime.batch.ray_engine import caption_with_ray
from captioner.runtime.batch.sources import expand_sources
from captioner.runtime.model.result import CaptionResult
from captioner.settings import BATCH_SIZE


def caption(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    sources = expand_sources(args.images)
    options = caption_options(args)
    if args.metadata_dir and not args.write_metadata:
        raise CaptionerError("--metadata-dir goes with --write-metadata")
    writer = None
    if args.output:
        writer = ResultWriter(args.output)
        done = [s for s in sources if writer.skip(s)]
        if done:
            print(f"{len(done)} of {len(sources)} images are already in {args.output}: skipped", file=sys.stderr)
        sources = [s for s in sources if not writer.skip(s)]
    elif args.engine == "ray":
        raise CaptionerError("--engine ray writes its results to a file: give --output FILE (.csv, .jsonl or .parquet)")
    if args.engine == "ray":
        files = ensure_exported(args.model)  # once, here: the actors then load the export without torch
        results = caption_with_ray(sources, str(files.path), options, args.address, actors=args.ray_actors)
    else:
        captioner = load_captioner(args.model, args.encoder_weights, grounding=options.grounding, device=args.device)
        results = CaptionModel(captioner).stream(sources, options=options)
    failures = 0
    bar = tqdm(total=len(sources), unit="image", file=sys.stderr, disable=len(sources) < 32 or None)
    batch: list[CaptionResult] = []
    for result in results:  # the Python API's path (or Ray's): same loading, same results
        bar.update(1)
        if result.error is None:
            result.error = _write_beside(result.source, result.caption, args)
        failures += result.error is not None
        if writer is not None:
            batch.append(result)
            if len(batch) >= BATCH_SIZE:  # an interruption loses at most this batch
                writer.write(batch)
                batch = []
            continue
        if args.json:  # one JSON object per image on stdout, failures included
            bar.write(json.dumps(result.to_dict()), file=sys.stdout)
            continue
        if result.error is not None:
            bar.write(f"error: {result.error}", file=sys.stderr)
            continue
        bar.write("\n".join(_lines(result, args)), file=sys.stdout)
    bar.close()
    if writer is not None:
        writer.write(batch)
        writer.close()
        print(f"{writer.written} results written to {args.output}", file=sys.stderr)
    logging.getLogger("captioner").info("captioned %d images in %.2fs", len(sources) - failures, time.perf_counter() - started)
    return 1 if failures else 0


def _lines(result: CaptionResult, args: argparse.Namespace) -> list[str]:
    """A result as text: the caption, then its concepts and alternatives when asked."""
    lines = [f"{result.source}: {result.caption}"]
    if args.concepts and result.concepts:
        concepts = result.concepts
        words = ", ".join(f"{c['word']} {c['score']:.2f}" for c in concepts["imagenet"])
        reasons = concepts.get("blocked_reasons", {})
        blocked = ", ".join(f"{c} ({reasons[c]})" if c in reasons else c for c in concepts["blocked"])
        more = f" and {concepts['blocked_more']} more" if concepts.get("blocked_more") else ""
        lines.append(f"    concepts: {words}; required: {', '.join(concepts['required']) or '-'}; "
                     f"blocked: {blocked or '-'}{more}; decoder: {concepts.get('decoder', 'main')}")
    if args.alternatives:
        lines += [f"    {alt['score']:8.4f}  {alt['caption']}" for alt in result.alternatives]
    return lines


def _write_beside(source: str | None, caption: str, args: argparse.Namespace) -> str | None:
    """--sidecar and --write-metadata for one captioned local image; why it failed, or None."""
    if not (args.sidecar or args.write_metadata):
        return None
    if "://" in source:
        return f"captioned ({caption!r}) but not written: --sidecar and --write-metadata need local files"
    path = Path(source)
    try:
        if args.sidecar:
            write_text(path.with_suffix(".txt"), caption + "\n")
        if args.write_metadata:
            target = Path(args.metadata_dir) / path.name if args.metadata_dir else None
            write_caption_metadata(path, caption, target)
    except (CaptionerError, OSError) as exc:
        return f"{source}: captioned ({caption!r}) but not written: {exc}"
    return None
