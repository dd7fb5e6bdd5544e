"""Images in, captions out: the shipped (or any) model bundle plus its encoder, loaded once.

With grounding (the default), the encoder's ImageNet classifier and the concept detectors decide
which words each caption must mention and which it must not, and the caption comes from
constrained beam search; `grounded=False` gives the plain caption.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from captioner.concepts.grounding import GroundingConfig, constraints_for, lm_weights, load_grounder
from captioner.decoding import SearchConfig
from captioner.decoding.captions import caption_features, to_text
from captioner.inference.onnx_decoder import bundle_digest, load_runners, onnx_folder
from captioner.inference.shipped import resolve_model


def export_folders(model_path: Path, digest: str) -> tuple[Path, Path]:
    """Where a model's ONNX export may be: beside the model (shipped), else the cache, by SHA-256."""
    from captioner.encoders.onnx_runtime import onnx_cache_dir

    return onnx_folder(model_path), onnx_cache_dir() / "decoders" / digest[:16]


def onnx_runners(model_path: Path, bundle, encoder=None, providers: list[str] | None = None,
                 digest: str | None = None):
    """The bundle's decoder and language model in ONNX Runtime: the default model ships its export
    (`<model>.onnx/`); any other model is exported once into the cache, keyed by its SHA-256, with
    `encoder` when given (so later loads need no torch). digest: the model file's, if known."""
    digest = digest or bundle_digest(model_path)
    beside, cached = export_folders(model_path, digest)
    folder = beside
    if not folder.is_dir():
        folder = cached
        if not (folder / "bundle.json").is_file():
            from captioner.inference.onnx_export import export_bundle  # torch: only to export

            export_bundle(bundle, digest, folder, encoder=encoder)
    return load_runners(model_path, digest, bundle.language_model is not None, folder, providers=providers)


def _need_torch(model_path: Path) -> None:
    """A model without a usable ONNX export runs in PyTorch: say so clearly when torch is missing."""
    import importlib.util

    from captioner.errors import CaptionerError

    if importlib.util.find_spec("torch") is None:
        raise CaptionerError(f"{model_path} has no ONNX export here and PyTorch is not installed: install "
                             "captioner[train] (./install.sh), or export it where torch is "
                             f"(`captioner export-onnx --model {model_path}`)")


def load_exported(model_path: Path, digest: str, providers: list[str] | None = None):
    """(bundle, encoder, decoder, language model) all from the model's ONNX export, without torch;
    None when the export (beside the model or in the cache) is missing, stale or has no encoder."""
    from captioner.inference.exported import ExportedEncoder, read_exported

    for folder in export_folders(model_path, digest):
        found = read_exported(folder, model_path, digest)
        if found is not None and found[1]:
            bundle = found[0]
            decoder, language_model = load_runners(model_path, digest, bundle.has_language_model, folder,
                                                   providers=providers)
            return bundle, ExportedEncoder(folder, model_path, providers=providers), decoder, language_model
    return None


@dataclass
class CaptionResult:
    caption: str
    alternatives: list[dict]  # [{"caption": str, "score": float, "log_prob": float}], best first
    timings_ms: dict[str, float] = field(default_factory=dict)
    concepts: dict | None = None  # ImageConcepts.to_dict() when grounded
    attention: list[dict] | None = None  # [{"word": str, "grid": [[float]*g]*g}] for attention decoders, if asked
    error: str | None = None  # why this input could not be captioned (in a list of inputs)

    @property
    def timings(self) -> dict[str, float]:
        """Milliseconds per stage (preprocess, encode, concepts, decode), per image."""
        return self.timings_ms

    def to_dict(self) -> dict:
        """Plain JSON-able values: caption, alternatives, timings_ms, concepts, attention, error."""
        return {"caption": self.caption, "alternatives": self.alternatives, "timings_ms": self.timings_ms,
                "concepts": self.concepts, "attention": self.attention, "error": self.error}


class Captioner:
    def __init__(self, model: str | None = None, encoder_weights: str | None = None, backend: str = "auto",
                 grounding: GroundingConfig | bool = True, device: str = "auto"):
        """backend: "auto" runs encoder and decoder in ONNX Runtime from the model's export, without
        torch (exported on first use when a model has none); "torch" runs them in PyTorch.
        grounding: True (the calibrated settings), a GroundingConfig, or False to never ground
        (then no concept detectors are needed). device: auto, cpu or cuda (captioner.devices)."""
        from captioner.devices import onnx_providers

        started = time.perf_counter()
        self.model_path = resolve_model(model)
        providers = onnx_providers(device) if backend == "auto" else None
        digest = bundle_digest(self.model_path) if backend == "auto" else None  # hashed once, for both paths
        exported = load_exported(self.model_path, digest, providers) if digest and encoder_weights is None else None
        if exported is not None:
            self.bundle, self.encoder, self.decoder, self.language_model = exported
            self.decoder_config = dict(self.bundle.decoder_config)
        else:
            _need_torch(self.model_path)
            from captioner.encoders import create_encoder
            from captioner.encoders.onnx_runtime import maybe_onnx
            from captioner.inference.bundle import load_bundle

            self.bundle = load_bundle(self.model_path)
            self.encoder = create_encoder(self.bundle.encoder["name"], encoder_weights)
            self.decoder, self.language_model = self.bundle.decoder, self.bundle.language_model
            self.decoder_config = asdict(self.bundle.decoder.config)
            if backend == "auto":
                torch_encoder = self.encoder
                self.encoder = maybe_onnx(self.encoder, providers)
                self.decoder, self.language_model = onnx_runners(self.model_path, self.bundle,
                                                                 torch_encoder if encoder_weights is None else None,
                                                                 providers, digest)
        config = GroundingConfig() if grounding is True else (grounding or None)
        self.grounder = load_grounder(self.encoder, self.bundle, config) if config is not None else None
        self.load_ms = 1000 * (time.perf_counter() - started)

    @property
    def metadata(self) -> dict:
        info = self.bundle.info
        return {
            "model": self.model_path.stem,
            "encoder": {**self.encoder.describe(), "runtime": type(self.encoder).__name__},
            "decoder": {**self.decoder_config, "runtime": type(self.decoder).__name__},
            "vocabulary_size": len(self.bundle.vocab),
            "open_vocabulary": len(self.bundle.vocab) - self.bundle.trained_size,
            "grounding": vars(self.grounder.config) if self.grounder else None,
            "test_scores": info.get("test_scores"),
            "trained_epochs": info.get("epoch"),
        }

    def caption(self, images: list[Image.Image], search: SearchConfig | None = None, grounded: bool = True,
                attention: bool = False) -> list[CaptionResult]:
        """RGB images (see data.images.load_image) -> one result per image, alternatives ranked.

        grounded: constrain the search with the photo's concepts (when the model has a grounder).
        attention: also return, per word, where an attention decoder looked (a grid of weights).
        """
        search = search or SearchConfig()
        t0 = time.perf_counter()
        pixels = np.stack([self.encoder.preprocess(image) for image in images])  # (B, H, W, 3)
        t1 = time.perf_counter()
        pooled, grid, classes = self.encoder.encode_with_classes(pixels)  # (B, D), (B, L, D), (B, 1000) or None
        t2 = time.perf_counter()
        vocab, size = self.bundle.vocab, self.bundle.trained_size
        concepts = self.grounder.ground(pooled, probs=classes) if (grounded and self.grounder) else None
        constraints = [constraints_for(c, vocab, size, self.grounder.config) for c in concepts] if concepts else None
        weights = lm_weights(concepts, self.grounder.config) if concepts else None
        t3 = time.perf_counter()
        hyps = caption_features(self.decoder, vocab, pooled, grid, search, greedy=search.beam_size <= 1,
                                constraints=constraints, trained_size=size, trace=attention,
                                language_model=self.language_model, lm_weights=weights)
        t4 = time.perf_counter()
        per_image = {k: 1000 * v / len(images) for k, v in
                     (("preprocess", t1 - t0), ("encode", t2 - t1), ("concepts", t3 - t2), ("decode", t4 - t3))}
        side = self.encoder.grid_size
        results = []
        for n, ranked in enumerate(hyps):
            best = ranked[0]
            maps = None
            if attention and best.attention is not None:
                words = vocab.decode(best.tokens)
                maps = [{"word": w, "grid": np.round(np.asarray(a).reshape(side, side), 4).tolist()}
                        for w, a in zip(words, best.attention)]
            results.append(CaptionResult(
                caption=to_text(vocab, best),
                alternatives=[{"caption": to_text(vocab, h), "score": round(h.score, 4), "log_prob": round(h.log_prob, 4)}
                              for h in ranked],
                timings_ms={k: round(v, 1) for k, v in per_image.items()},
                concepts=concepts[n].to_dict() if concepts else None,
                attention=maps,
            ))
        return results

    def caption_isolated(self, images: list[Image.Image], search: SearchConfig | None = None, grounded: bool = True,
                         attention: bool = False) -> list[CaptionResult | Exception]:
        """`caption`, but should the batch fail, each image is captioned alone, so a bad one fails
        alone: its place in the list holds the exception (batch engines report it per image)."""
        if not images:
            return []
        try:
            return self.caption(images, search, grounded, attention)
        except Exception:
            if len(images) == 1:
                raise
        outcomes: list[CaptionResult | Exception] = []
        for image in images:
            try:
                outcomes.extend(self.caption([image], search, grounded, attention))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
