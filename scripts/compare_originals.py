#!/usr/bin/env python
"""The original systems beside ours, in one run: each seed recipe as the seeds decoded it, the same
model with our search (then with grounding, where its encoder has concept detectors), and our default.

    .venv/bin/python scripts/compare_originals.py --flickr ../shared/data/flickr8k \
        --coco ../shared/data/coco-dev [--models seed-xception seed-inception-add default] \
        [--timing-photos 20] [--output runs/compare/originals.json]

Measures: Flickr8k official test BLEU-1..4, METEOR, CIDEr; coco-dev CIDEr, hallucinated captions and
object recall; ms per caption (one photo at a time through the same runtime `captioner caption`
uses, encoder included, median over --timing-photos Flickr8k test photos); model size (the decoder
file, and the encoder's weights beside it). Prints a Markdown table (the README quotes it) and
writes every figure to --output.

"As the seeds ran it" is their decoding: greedy, from <start> to <end> (their startseq/endseq), no
rule against repeating a word or a bigram, up to the longest caption trained on, no language model,
no grounding. Seed models ship with no language model, so "our search" there is beam 5 with our
repetition rules and length penalty.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioner.atomic import write_json  # noqa: E402
from captioner.runtime.grounding.grounding import GroundingConfig  # noqa: E402
from captioner.runtime.data.datasets import load_dataset  # noqa: E402
from captioner.runtime.data.images import load_image  # noqa: E402
from captioner.runtime.options import CaptionOptions  # noqa: E402
from captioner.settings import Settings  # noqa: E402
from captioner.runtime.search import SearchConfig  # noqa: E402
from captioner.runtime.model.files import resolve_model  # noqa: E402
from captioner.evaluation.evaluate import ALL, EvalData, score_captions  # noqa: E402

DEFAULT_MODELS = ("seed-xception", "seed-inception-add", "default")
METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "CIDEr")


def model_name(model: str) -> str:
    """A shipped name, or a run's folder name for its model.pt (runs/seed-inception-add/model.pt)."""
    path = Path(model)
    return path.parent.name if path.suffix == ".pt" and path.stem in ("model", "last") else path.stem


def seed_search(bundle) -> SearchConfig:
    """The seeds' greedy decoding: no repetition rules, up to the longest caption trained on."""
    longest = int(bundle.info.get("train_config", {}).get("max_caption_length", SearchConfig.max_length))
    return SearchConfig(beam_size=1, max_length=longest, no_repeat_ngram=0, block_repeated_word=False,
                        length_penalty=0.0)


def decodings(model: str, bundle, has_grounder: bool) -> list[tuple[str, SearchConfig, bool]]:
    """(label, search, grounded) rows for one model: the seeds' decoding, ours, ours grounded."""
    if not model_name(model).startswith("seed-"):
        return [("ours: beam 5 + grounding + LM" if has_grounder else "ours: beam 5", SearchConfig(), has_grounder)]
    rows = [("as the seeds ran it: greedy", seed_search(bundle), False), ("+ our beam search", SearchConfig(), False)]
    if has_grounder:
        rows.append(("+ our beam search + grounding", SearchConfig(), True))
    return rows


def file_mb(path: Path | None) -> float | None:
    return round(path.stat().st_size / 1e6, 1) if path and path.is_file() else None


def encoder_weights_file(captioner) -> Path | None:
    """The encoder's weights on disk, as the loaded encoder found them (None when unknown)."""
    inner = getattr(captioner.encoder, "inner", captioner.encoder)
    for attribute in ("path", "weights_source", "weights_path"):  # the ONNX export in use, else the weights file
        found = getattr(inner, attribute, None)
        if found:
            return Path(found)
    return None


def time_captions(captioner, photos: list[Path], search: SearchConfig, grounded: bool) -> float:
    """Median ms per caption, one photo at a time (after one warm-up call)."""
    images = [load_image(p) for p in photos]
    options = CaptionOptions(beam_size=search.beam_size, max_length=search.max_length,
                             length_penalty=search.length_penalty, no_repeat_ngram=search.no_repeat_ngram, grounding=grounded)
    captioner.caption(images[:1], options)
    times = []
    for image in images:
        started = time.perf_counter()
        captioner.caption([image], options)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def compare(models: list[str], flickr: str, coco: str, cache_dir: str, timing_photos: int, meteor: bool = True,
            limit: int | None = None) -> list[dict]:
    from captioner.export.loading import load_captioner

    flickr_data, coco_data = load_dataset(flickr), load_dataset(coco)
    test_ids = flickr_data.split("test")
    photos = [Path(flickr_data.image_path(i)) for i in test_ids[:timing_photos]]
    rows = []
    for model in models:
        on_flickr = EvalData.prepare(model, flickr_data, "test", cache_dir, limit, progress=False)
        bundle = on_flickr.bundle
        on_coco = EvalData.prepare(model, coco_data, ALL, cache_dir, limit, progress=False)
        runtime = load_captioner(model)
        sizes = {"decoder_mb": file_mb(resolve_model(model)), "encoder_mb": file_mb(encoder_weights_file(runtime))}
        for label, search, grounded in decodings(model, bundle, on_flickr.grounder is not None):
            grounding = GroundingConfig() if grounded else None
            flickr_scores = score_captions(on_flickr, on_flickr.captions(search, search.beam_size <= 1, grounding), meteor)
            coco_scores = score_captions(on_coco, on_coco.captions(search, search.beam_size <= 1, grounding), False)
            rows.append({
                "model": model_name(model), "encoder": bundle.encoder["name"], "decoding": label,
                "flickr8k_test": {m: flickr_scores[m] for m in METRICS},
                "coco_dev": {"CIDEr": coco_scores["CIDEr"], "hallucinated": coco_scores["hallucinated_captions"],
                             "object_recall": coco_scores["object_recall"]},
                "ms_per_caption": round(time_captions(runtime, photos, search, grounded), 1), **sizes,
                "search": vars(replace(search)),
            })
            print(f"{rows[-1]['model']:<20} {label:<34} BLEU-4 {flickr_scores['BLEU-4']:.4f} "
                  f"CIDEr {flickr_scores['CIDEr']:.4f}", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| model | encoder | decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | METEOR | CIDEr | coco-dev CIDEr "
            "| hallucinated | object recall | ms / caption | decoder MB | encoder MB |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]

    def cell(value, spec=".3f"):
        return "n/a" if value is None else format(value, spec)

    for r in rows:
        f, c = r["flickr8k_test"], r["coco_dev"]
        lines.append(f"| {r['model']} | {r['encoder']} | {r['decoding']} | "
                     + " | ".join(cell(f[m]) for m in METRICS)
                     + f" | {cell(c['CIDEr'])} | {cell(c['hallucinated'], '.1%')} | {cell(c['object_recall'], '.1%')}"
                     f" | {r['ms_per_caption']:.1f} | {cell(r['decoder_mb'], '.1f')} | {cell(r['encoder_mb'], '.1f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flickr", required=True, help="Flickr8k folder (its official test split is scored)")
    parser.add_argument("--coco", required=True, help="COCO-format everyday photos (coco-dev), scored whole")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="shipped names or .pt paths")
    parser.add_argument("--cache-dir", default=Settings.feature_cache)
    parser.add_argument("--timing-photos", type=int, default=20, help="Flickr8k test photos timed one at a time")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (needs Java)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N photos of each set (a quick check)")
    parser.add_argument("--output", default="runs/compare/originals.json")
    args = parser.parse_args()
    rows = compare(args.models, args.flickr, args.coco, args.cache_dir, args.timing_photos, not args.no_meteor, args.limit)
    write_json(args.output, {"rows": rows})
    print(markdown(rows))
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
