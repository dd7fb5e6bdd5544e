#!/usr/bin/env python
"""Markdown table of every evaluated run: runs/*/test-captions.json (from scripts/experiments.sh).

    .venv/bin/python scripts/results_table.py [runs]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from captioner.training.bundle import load_bundle

METRICS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs")
    print("| run | encoder | merge | words | decoding | " + " | ".join(METRICS) + " | distinct | best epoch | train time |")
    print("|---" * (len(METRICS) + 8) + "|")
    for report_path in sorted(root.glob("*/test-captions.json")):
        report = json.loads(report_path.read_text())["report"]
        info = load_bundle(report_path.parent / "model.pt").info
        cfg = info["train_config"]
        cfg = {**cfg, **cfg.get("decoder", {})}  # runs before the nested decoder config kept its fields flat
        minutes = info.get("trained_seconds", 0) / 60
        for mode, result in report["results"].items():
            label = f"beam {report['beam_size']}" if mode == "beam" else "greedy"
            cells = " | ".join("n/a" if result["coco"][m] is None else f"{result['coco'][m]:.3f}" for m in METRICS)
            print(f"| {report_path.parent.name} | {cfg['encoder']} | {cfg['merge']} | {cfg['embeddings']} | {label} | "
                  f"{cells} | {result['distinct_fraction']:.0%} | {info['epoch']} | {minutes:.0f} min |")


if __name__ == "__main__":
    main()
