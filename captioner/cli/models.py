"""`captioner models` and `captioner export-onnx`."""

from __future__ import annotations

import argparse

from captioner.export.onnx_export import export_model
from captioner.runtime.grounding.grounding import SOURCE_NAMES
from captioner.runtime.model.files import resolve_model, shipped_models
from captioner.training.bundle import load_bundle


def models(args: argparse.Namespace) -> int:
    for name in shipped_models():
        bundle = load_bundle(name)
        scores = bundle.info.get("test_scores") or {}
        summary = " ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float))
        sources = "".join(f" +{SOURCE_NAMES[s]}-decoder" for s in sorted(bundle.source_decoders))  # everyday photos' own
        print(f"{name:<28} encoder={bundle.encoder['name']:<20} style={bundle.decoder.config.style:<10}{sources} {summary}")
    return 0


def export_onnx(args: argparse.Namespace) -> int:
    folder = export_model(resolve_model(args.model), args.output, args.precision)
    print(f"wrote {', '.join(sorted(p.name for p in folder.iterdir()))} to {folder}")
    return 0
