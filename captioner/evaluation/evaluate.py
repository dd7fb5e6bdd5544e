"""Score a model on a dataset split: coco-caption metrics, nltk BLEU, object hallucination and
recall, diversity, per-image captions. Works on Flickr8k and on any COCO-format set (split "all")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from captioner.atomic import write_json
from captioner.errors import CaptionerError
from captioner.evaluation.hallucination import object_scores
from captioner.evaluation.phrases import phrase_report
from captioner.export.from_torch import onnx_runners
from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.datasets import Dataset, load_dataset
from captioner.runtime.data.images import load_image
from captioner.runtime.devices import onnx_providers
from captioner.runtime.grounding.colour import colourfulness
from captioner.runtime.grounding.grounding import Grounder, GroundingConfig, load_grounder, search_inputs
from captioner.runtime.model.files import resolve_files, resolve_model
from captioner.runtime.search import SearchConfig
from captioner.runtime.search.captions import caption_features, shift_features, to_text
from captioner.runtime.search.fusion import with_background
from captioner.settings import DEFAULT_DEVICE, Settings, settings
from captioner.training.bundle import ModelBundle, load_bundle
from captioner.training.config import TrainConfig
from captioner.training.data import holdout
from captioner.training.devices import torch_device
from captioner.training.encoders import create_encoder
from captioner.training.encoders.features import ensure_features
from captioner.training.networks.torch_runner import TorchRunner, decoder_runner
from captioner.training.scores import coco_scores, nltk_bleu

ALL = "all"  # the split name for every image of a dataset (e.g. coco-dev)
HOLDOUT = "holdout"  # the photos of a `captioner train --mix` set held out for validation (seeded as in training)


def report_path(dataset: str, split: str, model: str | None) -> str:
    """Where evaluate's report goes unless named: a run folder, never inside the dataset."""
    name = Path(dataset).resolve()
    name = name.parent.name if name.suffix == ".json" else name.name
    file_name = f"{name}-{split}-{Path(model or 'default').stem}.json"
    here = Path("runs") / "evaluate" / file_name
    try:
        refuse_dataset_file(str(here), dataset)
    except CaptionerError:  # run inside the dataset folder: the user's cache instead ($CAPTIONER_CACHE_HOME)
        return str(settings().cache_home / "evaluate" / file_name)
    return str(here)


def refuse_dataset_file(output: str, dataset: str) -> None:
    """A report never goes over, or into, the dataset it scores."""
    out, data = Path(output).resolve(), Path(dataset).resolve()
    root = data.parent if data.is_file() else data
    if out == data or root in out.parents:
        raise CaptionerError(f"--output-json {output} is inside the dataset {dataset}: name a file elsewhere")


def mix_holdout(dataset: Dataset) -> list[str]:
    """The photos `captioner train --mix DATASET` holds out with its default --mix-holdout and --seed."""
    return holdout(sorted(dataset.captions), TrainConfig.mix_holdout, TrainConfig.seed)[1]


def diversity(captions: list[str]) -> dict[str, float | int]:
    """Share of distinct captions, and how many captions repeat a word three times in a row."""
    triple = sum(any(w[i] == w[i + 1] == w[i + 2] for i in range(len(w) - 2)) for w in (c.split() for c in captions))
    return {"distinct_fraction": len(set(captions)) / max(len(captions), 1), "triple_repeats": triple}


@dataclass
class EvalData:
    """A model with the cached features and references of the images it is scored on."""

    bundle: ModelBundle
    model_path: str
    ids: list[str]
    pooled: np.ndarray  # (N, D) float16
    grid: np.ndarray | None  # (N, L, D) float16
    references: dict[str, list[str]]
    grounder: Grounder | None
    decoder: object = None  # the runtime that decodes: the bundle's PyTorch decoder or its ONNX Runtime export
    language_model: object = None
    background_lm: object = None
    colour: np.ndarray | None = None  # (N,) each photo's colourfulness (runtime/grounding/colour.py)

    def __post_init__(self):
        if self.decoder is None:  # the bundle's PyTorch modules, seen through numpy by the search
            self.decoder = decoder_runner(self.bundle)
            self.language_model, self.background_lm = (TorchRunner(lm) if lm is not None else None
                                                       for lm in (self.bundle.language_model, self.bundle.background_lm))

    @classmethod
    def prepare(cls, model: str | None, dataset: Dataset, split: str, cache_dir: str,
                limit: int | None = None, encoder_weights: str | None = None, progress: bool = True,
                backend: str = "torch", device: str = "auto") -> "EvalData":
        bundle = load_bundle(model)
        ids = sorted(dataset.captions) if split == ALL else mix_holdout(dataset) if split == HOLDOUT else dataset.split(split)
        ids = ids[:limit] if limit else ids
        encoder_name = bundle.encoder["name"]
        cache = ensure_features(dataset, ids, encoder_name, cache_dir, encoder_weights, progress)
        failed = cache.failed_ids()
        ids = [i for i in ids if i not in failed]
        pooled, grid = cache.load(ids, with_grid=bundle.decoder.uses_grid)
        grounder = load_grounder(create_encoder(encoder_name, encoder_weights), bundle)
        decoder = language_model = background = None
        if backend == "onnx":
            decoder, language_model, background = onnx_runners(resolve_files(model), bundle, providers=onnx_providers(device))
        else:
            where = torch_device(device)
            for module in (bundle.decoder, *bundle.source_decoders.values()):
                module.to(where)
            for lm in (bundle.language_model, bundle.background_lm):
                if lm is not None:
                    lm.to(where)
        colour = np.array([colourfulness(load_image(dataset.image_path(i))) for i in ids], np.float32) if grounder else None
        return cls(bundle, str(resolve_model(model)), ids, pooled, grid, {i: dataset.captions[i] for i in ids}, grounder,
                   decoder, language_model, background, colour)

    def captions(self, search: SearchConfig, greedy: bool = False, grounding: GroundingConfig | None = None
                 ) -> dict[str, str]:
        """Best caption per image; grounded (concept constraints) when `grounding` is given and possible."""
        constraints = weights = sources = None
        pooled, grid = self.pooled, self.grid
        fusion_lm = self.language_model
        if grounding is not None and self.grounder is not None:
            fusion_lm = with_background(self.language_model, self.background_lm, grounding.lm_background_weight)
            concepts = self.grounder.ground(self.pooled.astype(np.float32), grounding, colour=self.colour)
            constraints, weights, sources = search_inputs(concepts, self.bundle.vocab, self.bundle.trained_size, grounding)
            pooled, grid = shift_features(self.bundle.source_offsets, pooled, grid, sources)
        hyps = caption_features(self.decoder, self.bundle.vocab, pooled, grid, search, greedy,
                                constraints=constraints, trained_size=self.bundle.trained_size,
                                language_model=fusion_lm, lm_weights=weights, sources=sources)
        return {i: to_text(self.bundle.vocab, h[0]) for i, h in zip(self.ids, hyps)}


def score_captions(data: EvalData, texts: dict[str, str], meteor: bool = True) -> dict:
    """coco-caption scores, object hallucination and recall, and diversity of one caption per image."""
    return {**coco_scores(data.references, texts, meteor=meteor), **object_scores(data.references, texts),
            **diversity(list(texts.values())), "phrases": phrase_report(data.references, texts)}


@dataclass
class EvalConfig:
    """What `evaluate` scores and how (the CLI's evaluate options)."""

    model: str | None = None  # shipped name or .pt path; None: the default
    dataset: str = Settings.dataset
    split: str = "test"  # train, val, test, or ALL
    cache_dir: str = Settings.feature_cache
    search: SearchConfig = field(default_factory=SearchConfig)
    modes: tuple[str, ...] = ("beam", "greedy")
    grounding: GroundingConfig | None = field(default_factory=GroundingConfig)  # None: plain search
    output_json: str | None = None  # per-image captions and the report
    limit: int | None = None  # first N images of the split
    meteor: bool = True
    encoder_weights: str | None = None
    progress: bool = True
    backend: str = "torch"  # decoder runtime: torch or onnx (the export caption/serve use)
    device: str = DEFAULT_DEVICE  # auto | cpu | cuda | mps


def evaluate(config: EvalConfig) -> dict:
    """Returns {"model", "split", "images", "results": {mode: {...scores}}}; writes captions if asked."""
    c = config
    if c.output_json:
        refuse_dataset_file(c.output_json, c.dataset)
    data = EvalData.prepare(c.model, load_dataset(c.dataset), c.split, c.cache_dir, c.limit, c.encoder_weights, c.progress,
                            c.backend, c.device)
    grounded = c.grounding is not None and data.grounder is not None
    report: dict = {"model": data.model_path, "encoder": data.bundle.encoder["name"], "backend": c.backend, "device": c.device, "split": c.split,
                    "images": len(data.ids), "beam_size": c.search.beam_size, "grounding": grounded, "scale": "0-1",
                    "results": {}}
    per_image: dict[str, dict] = {i: {"references": data.references[i]} for i in data.ids}
    for mode in c.modes:
        started = time.time()
        texts = data.captions(c.search, greedy=(mode == "greedy"), grounding=c.grounding)
        seconds = time.time() - started
        scores = score_captions(data, texts, c.meteor)
        tokens_refs = {i: [clean_caption(r) for r in data.references[i]] for i in data.ids}
        scores_nltk = nltk_bleu(tokens_refs, {i: t.split() for i, t in texts.items()})
        coco = {k: scores.pop(k) for k in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")}
        report["results"][mode] = {"coco": coco, "nltk": scores_nltk, **scores,
                                   "decode_ms_per_image": 1000 * seconds / max(len(data.ids), 1)}
        for i in data.ids:
            per_image[i][mode] = texts[i]
    if c.output_json:
        write_json(c.output_json, {"report": report, "captions": per_image})
    return report


def format_report(report: dict) -> str:
    """A plain table, metrics on a 0-1 scale (multiply by 100 for the papers' convention)."""
    names = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
    lines = [f"model {report['model']} (encoder {report['encoder']}), {report['split']} split, "
             f"{report['images']} images, grounding {'on' if report.get('grounding') else 'off'}; "
             "coco-caption metrics on a 0-1 scale",
             f"{'decoding':<10}" + "".join(f"{n:>9}" for n in names)
             + f"{'halluc.':>9}{'h.ment.':>9}{'obj.rec.':>9}{'distinct':>10}{'3x-rep':>8}"]
    for mode, r in report["results"].items():
        label = f"beam{report['beam_size']}" if mode == "beam" else mode
        cells = "".join(f"{r['coco'][n]:>9.4f}" if r["coco"][n] is not None else f"{'n/a':>9}" for n in names)
        lines.append(f"{label:<10}{cells}{r['hallucinated_captions']:>9.1%}{r['hallucinated_mentions']:>9.1%}"
                     f"{r['object_recall']:>9.1%}{r['distinct_fraction']:>10.1%}{r['triple_repeats']:>8d}")
    lines.append("halluc. = captions naming a COCO object kind no reference names; h.ment. = share of object "
                 "mentions that are; obj.rec. = images whose caption names an object the references name")
    for mode, r in report["results"].items():
        p = r.get("phrases")
        if p is None:
            continue
        lines.append(f"{mode}: captions saying a bigram twice {p['repeated_bigram']:.1%}, a word on both sides of "
                     f"'and' or 'or' {p.get('repeated_across', 0.0):.1%}; phrase rates, ours vs references: "
                     + "; ".join(f"{w!r} {v['ours']:.1%} vs {v['references']:.1%}" for w, v in p["watched"].items()))
        lines.append(f"{mode}: most over-used phrases: " + "; ".join(
            f"{o['phrase']!r} {o['ours']:.1%} vs {o['references']:.1%}" for o in p["overused"]))
    lines.append("nltk corpus BLEU-1..4 (as the Keras tutorials report): " + "; ".join(
        f"{mode} " + " ".join(f"{v:.4f}" for v in r["nltk"].values()) for mode, r in report["results"].items()))
    return "\n".join(lines)
