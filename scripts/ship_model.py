#!/usr/bin/env python
"""Copy a trained run's best model into the package as a shipped model, with its test scores.

    .venv/bin/python scripts/ship_model.py runs/NAME/model.pt NAME [--precision int8] [--onnx-precision float32] \
        [--report runs/NAME/test-captions.json] [--open-vocabulary] [--interpolate OTHER ALPHA] [--no-export] \
        [--language-model OTHER] [--background-lm OTHER] [--source-decoder SOURCE OTHER [--share-init] [--source-precision int8]]

The ONNX export shipped beside it (what inference runs) has int8 step graphs unless
--onnx-precision float32 (see captioner/export/onnx_export.py and the README's figures).

--interpolate OTHER ALPHA ships the weight-space average (1 - ALPHA) * OTHER + ALPHA * MODEL of two
models with the same vocabulary, e.g. a self-critical fine-tune and the model it started from
(WiSE-FT, Wortsman et al. 2022: keeps most of the fine-tune's gain where it was tuned and more of
the start's behaviour elsewhere).

--source-decoder 1 OTHER ships OTHER's decoder (the same vocabulary) as caption source 1's own: it
captions the photos grounding finds unfamiliar (everyday photos), the model's own decoder all others
(runtime/search/captions.py RoutedDecoder).

--open-vocabulary adds the concept words of captioner/runtime/grounding/imagenet_words.tsv that the
model's vocabulary lacks (rows from their GloVe neighbours; see captioner/training/networks/open_vocab.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from captioner.runtime.grounding.tables import load_imagenet_table
from captioner.training.networks.open_vocab import extend_vocabulary
from captioner.runtime.encoders.base import RANDOM_WEIGHTS
from captioner.runtime.model.files import resolve_model
from captioner.settings import SHIPPED_DIR
from captioner.training.bundle import load_bundle, save_bundle
from captioner.training.init import with_initial_state_of
from captioner.training.networks.language_model import reorder_vocabulary
from captioner.export.onnx_export import PRECISIONS, export_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a run's model.pt")
    parser.add_argument("name", help="shipped name (default = the model captioner loads by default)")
    parser.add_argument("--precision", choices=["float16", "int8"], default="float16")
    parser.add_argument("--onnx-precision", choices=PRECISIONS, default="int8", help="the shipped export's step graphs")
    parser.add_argument("--report", help="the JSON that `captioner evaluate --output-json` wrote for this model")
    parser.add_argument("--open-vocabulary", action="store_true", help="add the ImageNet concept words it lacks")
    parser.add_argument("--language-model", metavar="OTHER",
                        help="ship OTHER's fusion language model (scripts/train_language_model.py; same vocabulary)")
    parser.add_argument("--background-lm", metavar="OTHER",
                        help="ship OTHER's language model as the background one density-ratio fusion subtracts "
                             "(e.g. trained on Flickr8k's captions; same vocabulary)")
    parser.add_argument("--source-decoder", nargs=2, metavar=("SOURCE", "OTHER"),
                        help="ship OTHER's decoder as caption source SOURCE's own (1: everyday photos; same vocabulary)")
    parser.add_argument("--share-init", action="store_true",
                        help="the source decoder takes the model's initial-state layers: one init graph serves both")
    parser.add_argument("--source-precision", choices=["float16", "int8"], default=None,
                        help="the source decoders' weights in the file (default: --precision)")
    parser.add_argument("--to", metavar="PATH", help="write the model here instead of the package (a candidate to "
                                                      "score before shipping; exported into the cache on first use)")
    parser.add_argument("--no-export", action="store_true",
                        help="ship the model file alone, no ONNX export beside it: for encoders whose weights are "
                             "installed apart (Xception); inference exports it into the user's cache on first use")
    parser.add_argument("--interpolate", nargs=2, metavar=("OTHER", "ALPHA"),
                        help="ship (1 - ALPHA) * OTHER + ALPHA * MODEL (same vocabulary and decoder)")
    args = parser.parse_args()
    if args.to:  # a candidate never goes over a model it is built from
        inputs = [args.model, args.language_model, args.background_lm, *(args.interpolate or [None])[:1],
                  *(args.source_decoder or [None, None])[1:]]
        inputs = [m for m in inputs if m]
        if Path(args.to).resolve() in {resolve_model(m).resolve() for m in inputs}:
            raise SystemExit(f"--to {args.to}: that is an input; write the candidate elsewhere")
    bundle = load_bundle(args.model)
    if bundle.encoder.get("weights") == RANDOM_WEIGHTS:
        raise SystemExit(f"{args.model} was trained on features of an untrained (random-weight) encoder: not shipped")
    if args.interpolate:
        other, alpha = load_bundle(args.interpolate[0]), float(args.interpolate[1])
        if other.vocab.words != bundle.vocab.words or other.decoder.config != bundle.decoder.config:
            raise SystemExit("--interpolate needs two models with the same vocabulary and decoder")
        mine, theirs = bundle.decoder.state_dict(), other.decoder.state_dict()
        bundle.decoder.load_state_dict({k: (1 - alpha) * theirs[k] + alpha * mine[k] for k in mine})
        bundle.info["interpolated"] = {"other": str(args.interpolate[0]), "alpha": alpha,
                                       "other_train_config": other.info.get("train_config")}
    for flag, field in (("--language-model", "language_model"), ("--background-lm", "background_lm")):
        other_path = getattr(args, field)
        if other_path:  # another bundle's language model, in this bundle's slot
            other = load_bundle(other_path)
            problem = f"{flag} {other_path}: no language model over this model's vocabulary"
            if other.language_model is None:
                raise SystemExit(problem)
            try:  # the same words, perhaps in another order (a fine-tune learned some open-vocabulary words)
                setattr(bundle, field, reorder_vocabulary(other.language_model, other.vocab.words, bundle.vocab.words))
            except ValueError:  # not the same words
                raise SystemExit(problem) from None
            bundle.info[field] = other.info.get("language_model")
    if args.source_decoder:
        source, other_path = int(args.source_decoder[0]), args.source_decoder[1]
        other = load_bundle(other_path)
        if source < 1 or other.vocab.words != bundle.vocab.words:
            raise SystemExit(f"--source-decoder {source} {other_path}: needs a source from 1 on and the model's own "
                             "vocabulary, in the same order (a run started with --init-from this model)")
        bundle.source_decoders[source] = with_initial_state_of(other.decoder, bundle.decoder) if args.share_init else other.decoder
        bundle.info["source_decoders"] = {str(source): {"from": str(other_path), "train_config": other.info.get("train_config")}}
    if args.open_vocabulary:
        if bundle.source_decoders:
            raise SystemExit("--open-vocabulary would change the vocabulary its source decoders share: extend it first")
        trained = bundle.trained_size
        words, _ = load_imagenet_table()
        bundle.decoder, bundle.vocab, added = extend_vocabulary(bundle.decoder, bundle.vocab, words)
        bundle.info["trained_vocab_size"] = trained
        bundle.info["open_vocabulary"] = sorted(set(bundle.info.get("open_vocabulary", [])) | set(added))
        print(f"added {len(added)} words: {' '.join(added)}")
    if args.report:
        with open(args.report) as handle:
            report = json.load(handle)["report"]
        results = report["results"]
        bundle.info["test_scores"] = results["beam"]["coco"]
        bundle.info["test_scores_greedy"] = results.get("greedy", {}).get("coco")
        bundle.info["test_beam_size"] = report["beam_size"]
    bundle.info["precision"] = args.precision
    target = Path(args.to) if args.to else SHIPPED_DIR / f"{args.name}.pt"
    save_bundle(target, bundle, args.precision, args.source_precision)
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    if args.no_export or args.to:
        return
    folder = export_model(target, precision=args.onnx_precision)  # from the saved weights, as inference loads them
    print(f"{folder}: {sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.1f} MB (ONNX Runtime inference, no torch)")


if __name__ == "__main__":
    main()
