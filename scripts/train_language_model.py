#!/usr/bin/env python
"""Train the fusion language model of a model bundle on text-only captions and store it in the bundle.

    .venv/bin/python scripts/train_language_model.py default --texts ../shared/data/coco-text/captions.json

MODEL is a shipped name (rewritten in place, same precision) or a .pt path (--output to write elsewhere).
"""

import argparse
import json
import time

from captioner.training.networks.language_model import LanguageModelConfig
from captioner.runtime.model.files import resolve_model
from captioner.training.bundle import load_bundle, save_bundle
from captioner.training.language_model import read_caption_texts, train_language_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--texts", required=True, help="COCO-format captions JSON (images not needed)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--output", default=None)
    parser.add_argument("--embed-dim", type=int, default=LanguageModelConfig.embed_dim)
    parser.add_argument("--hidden-dim", type=int, default=LanguageModelConfig.hidden_dim)
    args = parser.parse_args()
    path = resolve_model(args.model)
    bundle = load_bundle(path)
    started = time.time()
    bundle.language_model, report = train_language_model(
        read_caption_texts(args.texts), bundle.vocab, args.epochs,
        config=LanguageModelConfig(len(bundle.vocab), args.embed_dim, args.hidden_dim))
    report["seconds"] = round(time.time() - started, 1)
    bundle.info["language_model"] = {"texts": str(args.texts), **report}
    save_bundle(args.output or path, bundle, bundle.info.get("precision", "float16"))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
