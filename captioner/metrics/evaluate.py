"""Score a model on a dataset split: coco-caption metrics, nltk BLEU, diversity, per-image captions."""

from __future__ import annotations

import time

from captioner.atomic import write_json
from captioner.data.cleaning import clean_caption
from captioner.data.datasets import load_dataset
from captioner.decoding import SearchConfig
from captioner.inference.bundle import load_bundle, resolve_model
from captioner.inference.decode import caption_features, to_text
from captioner.metrics.scores import coco_scores, nltk_bleu
from captioner.training.data import ensure_features


def diversity(captions: list[str]) -> dict[str, float | int]:
    """Share of distinct captions, and how many captions repeat a word three times in a row."""
    triple = sum(any(w[i] == w[i + 1] == w[i + 2] for i in range(len(w) - 2)) for w in (c.split() for c in captions))
    return {"distinct_fraction": len(set(captions)) / max(len(captions), 1), "triple_repeats": triple}


def evaluate(
    model: str | None,
    dataset_path: str,
    split: str = "test",
    cache_dir: str = "cache/features",
    search: SearchConfig = SearchConfig(),
    modes: tuple[str, ...] = ("beam", "greedy"),
    output_json: str | None = None,
    limit: int | None = None,
    meteor: bool = True,
    encoder_weights: str | None = None,
    progress: bool = True,
) -> dict:
    """Returns {"model", "split", "images", "results": {mode: {...scores}}}; writes captions if asked."""
    bundle = load_bundle(model)
    dataset = load_dataset(dataset_path)
    ids = dataset.split(split)[:limit] if limit else dataset.split(split)
    encoder = bundle.encoder["name"]
    cache = ensure_features(dataset, ids, encoder, cache_dir, encoder_weights, progress)
    failed = cache.failed_ids()
    ids = [i for i in ids if i not in failed]
    pooled, grid = cache.load(ids, with_grid=bundle.decoder.config.uses_grid)
    references = {i: dataset.captions[i] for i in ids}
    report: dict = {"model": str(resolve_model(model)), "encoder": encoder, "split": split, "images": len(ids),
                    "beam_size": search.beam_size, "scale": "0-1", "results": {}}
    per_image: dict[str, dict] = {i: {"references": references[i]} for i in ids}
    for mode in modes:
        started = time.time()
        hyps = caption_features(bundle.decoder, bundle.vocab, pooled, grid, search, greedy=(mode == "greedy"))
        seconds = time.time() - started
        texts = {i: to_text(bundle.vocab, h[0]) for i, h in zip(ids, hyps)}
        scores = coco_scores(references, texts, meteor=meteor)
        tokens_refs = {i: [clean_caption(c) for c in references[i]] for i in ids}
        scores_nltk = nltk_bleu(tokens_refs, {i: t.split() for i, t in texts.items()})
        report["results"][mode] = {"coco": scores, "nltk": scores_nltk, **diversity(list(texts.values())),
                                   "decode_ms_per_image": 1000 * seconds / max(len(ids), 1)}
        for i in ids:
            per_image[i][mode] = texts[i]
    if output_json:
        write_json(output_json, {"report": report, "captions": per_image})
    return report


def format_report(report: dict) -> str:
    """A plain table, metrics on a 0-1 scale (multiply by 100 for the papers' convention)."""
    names = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
    lines = [f"model {report['model']} (encoder {report['encoder']}), {report['split']} split, "
             f"{report['images']} images; coco-caption metrics on a 0-1 scale",
             f"{'decoding':<10}" + "".join(f"{n:>9}" for n in names) + f"{'distinct':>10}{'3x-rep':>8}"]
    for mode, r in report["results"].items():
        label = f"beam{report['beam_size']}" if mode == "beam" else mode
        cells = "".join(f"{r['coco'][n]:>9.4f}" if r["coco"][n] is not None else f"{'n/a':>9}" for n in names)
        lines.append(f"{label:<10}{cells}{r['distinct_fraction']:>10.1%}{r['triple_repeats']:>8d}")
    lines.append("nltk corpus BLEU-1..4 (as the Keras tutorials report): " + "; ".join(
        f"{mode} " + " ".join(f"{v:.4f}" for v in r["nltk"].values()) for mode, r in report["results"].items()))
    return "\n".join(lines)
