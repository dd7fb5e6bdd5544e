"""Images in, captions out: a loaded model (bundle, encoder, decoder and language model runners,
grounder), each image's result a `CaptionResult`.

`Captioner.load(files)` is the runtime's way in: everything from the model's ONNX export, without
torch. Any other composition (the PyTorch backend, a first load that exports) is made by
captioner/export/loading.py, which hands the parts to `Captioner(...)`.

With grounding (the default), the encoder's ImageNet classifier and the concept detectors decide
which words each caption must mention and which it must not, and the caption comes from
constrained beam search; `CaptionOptions(grounding=False)` gives the plain caption.
"""

from __future__ import annotations

import time
import numpy as np
from PIL import Image

from captioner.errors import CaptionerError
from captioner.runtime.devices import onnx_providers
from captioner.runtime.grounding.colour import colourfulness
from captioner.runtime.grounding.grounding import SOURCE_NAMES, GroundingConfig, load_grounder, search_inputs
from captioner.runtime.model.exported import ExportedEncoder, read_exported
from captioner.runtime.model.files import ModelFiles
from captioner.runtime.model.result import CaptionResult
from captioner.runtime.model.runners import load_background, load_runners
from captioner.runtime.options import CaptionOptions
from captioner.runtime.search.captions import caption_features, shift_features, to_text
from captioner.runtime.search.fusion import with_background


def usable_export(files: ModelFiles):
    """(folder, bundle) of the model's complete ONNX export (beside the model, else in the cache),
    reading only its bundle.json; None when it is missing, stale or has no encoder."""
    for folder in files.export_folders:
        found = read_exported(folder, files.path, files.digest)
        if found is not None and found[1]:
            return folder, found[0]
    return None


def load_exported(files: ModelFiles, providers: list[str] | None = None):
    """(bundle, encoder, decoder, language model, background language model) all from the model's
    ONNX export, without torch; None without a usable export."""
    usable = usable_export(files)
    if usable is None:
        return None
    folder, bundle = usable
    decoder, language_model = load_runners(files.path, files.digest, bundle.has_language_model, folder, providers=providers,
                                           sources=bundle.source_decoders, shared_init=bundle.shared_init)
    background = load_background(files.path, files.digest, folder, providers=providers) if bundle.has_background_lm else None
    return bundle, ExportedEncoder(folder, files.path, providers=providers), decoder, language_model, background


class Captioner:
    def __init__(self, files: ModelFiles, bundle, encoder, decoder, language_model=None, background_lm=None,
                 grounding: GroundingConfig | bool = True, decoder_config: dict | None = None):
        """The parts of a loaded model. bundle: its vocabulary, encoder description and info
        (an ExportedBundle or a training ModelBundle); decoder, language_model, background_lm: numpy
        runners (the ONNX Runtime ones, or TorchRunner). grounding: True (the calibrated settings), a
        GroundingConfig, or False to never ground (then no concept detectors are needed)."""
        started = time.perf_counter()
        self.files, self.model_path = files, files.path
        self.bundle, self.encoder, self.decoder, self.language_model = bundle, encoder, decoder, language_model
        self.decoder_config = dict(decoder_config if decoder_config is not None else bundle.decoder_config)
        config = GroundingConfig() if grounding is True else (grounding or None)
        self.grounder = load_grounder(self.encoder, self.bundle, config) if config is not None else None
        self.background_lm = background_lm
        beta = self.grounder.config.lm_background_weight if self.grounder else 0.0
        self.fusion_lm = with_background(language_model, background_lm, beta)  # what grounded search fuses
        self.load_ms = 1000 * (time.perf_counter() - started)

    @classmethod
    def load(cls, files: ModelFiles, grounding: GroundingConfig | bool = True, device: str = "auto") -> "Captioner":
        """The model from its ONNX export (beside it, or in the cache), without torch."""
        started = time.perf_counter()
        exported = load_exported(files, onnx_providers(device))
        if exported is None:
            raise CaptionerError(f"{files.path} has no ONNX export here; make it where PyTorch is installed: "
                                 f"`captioner export-onnx --model {files.path}`")
        captioner = cls(files, *exported, grounding=grounding)
        captioner.load_ms = 1000 * (time.perf_counter() - started)
        return captioner

    @property
    def metadata(self) -> dict:
        info = self.bundle.info
        return {
            "model": self.model_path.stem,
            "encoder": {**self.encoder.describe(), "runtime": type(self.encoder).__name__},
            "decoder": {**self.decoder_config, "runtime": type(getattr(self.decoder, "main", self.decoder)).__name__,
                        "source_decoders": sorted(getattr(self.decoder, "routes", {}))},
            "vocabulary_size": len(self.bundle.vocab),
            "open_vocabulary": len(self.bundle.vocab) - self.bundle.trained_size,
            "grounding": vars(self.grounder.config) if self.grounder else None,
            "test_scores": info.get("test_scores"),
            "trained_epochs": info.get("epoch"),
        }

    def decoder_name(self, source: int) -> str:
        """Which of the model's decoders captions photos of this caption source: "everyday" (a source
        decoder of its own, SOURCE_NAMES) or "main"."""
        return SOURCE_NAMES[source] if source in getattr(self.decoder, "routes", {}) else "main"

    def caption(self, images: list[Image.Image], options: CaptionOptions | None = None) -> list[CaptionResult]:
        """RGB images (see runtime.data.images.load_image) -> one result per image, alternatives ranked.

        options.grounding: constrain the search with the photo's concepts (when the model has a grounder).
        options.attention: also return, per word, where an attention decoder looked (a grid of weights).
        """
        options = options or CaptionOptions()
        search = options.search
        t0 = time.perf_counter()
        pixels = np.stack([self.encoder.preprocess(image) for image in images])  # (B, H, W, 3)
        t1 = time.perf_counter()
        pooled, grid, classes = self.encoder.encode_with_classes(pixels)  # (B, D), (B, L, D), (B, 1000) or None
        t2 = time.perf_counter()
        vocab, size = self.bundle.vocab, self.bundle.trained_size
        concepts = constraints = weights = sources = None
        if options.grounding and self.grounder:  # colour is measured only when a rule reads it
            colour = [colourfulness(image) for image in images] if self.grounder.config.colourful is not None else None
            concepts = self.grounder.ground(pooled, probs=classes, colour=colour)
        if concepts:  # each photo's caption source picks its decoder, and a source-trained decoder's shift
            constraints, weights, sources = search_inputs(concepts, vocab, size, self.grounder.config)
            pooled, grid = shift_features(self.bundle.source_offsets, pooled, grid, sources)
        t3 = time.perf_counter()
        hyps = caption_features(self.decoder, vocab, pooled, grid, search, greedy=search.beam_size <= 1,
                                constraints=constraints, trained_size=size, trace=options.attention,
                                language_model=self.fusion_lm, lm_weights=weights, sources=sources)
        t4 = time.perf_counter()
        per_image = {k: 1000 * v / len(images) for k, v in
                     (("preprocess", t1 - t0), ("encode", t2 - t1), ("concepts", t3 - t2), ("decode", t4 - t3))}
        side = self.encoder.grid_size
        results = []
        for n, ranked in enumerate(hyps):
            best = ranked[0]
            maps = None
            if options.attention and best.attention is not None:
                words = vocab.decode(best.tokens)
                maps = [{"word": w, "grid": np.round(np.asarray(a).reshape(side, side), 4).tolist()}
                        for w, a in zip(words, best.attention)]
            results.append(CaptionResult(
                caption=to_text(vocab, best),
                alternatives=[{"caption": to_text(vocab, h), "score": round(h.score, 4), "log_prob": round(h.log_prob, 4)}
                              for h in ranked],
                concepts={**concepts[n].to_dict(), "decoder": self.decoder_name(sources[n])} if concepts else None,
                attention=maps,
                model=self.model_path.stem,
                encoder=self.encoder.name,
                image={"width": images[n].width, "height": images[n].height},
                timings_ms={k: round(v, 1) for k, v in per_image.items()},
            ))
        return results

    def caption_isolated(self, images: list[Image.Image], options: CaptionOptions | None = None) -> list[CaptionResult | Exception]:
        """`caption`, but should the batch fail, each image is captioned alone, so a bad one fails
        alone: its place in the list holds the exception (batch engines report it per image)."""
        if not images:
            return []
        try:
            return self.caption(images, options)
        except Exception:
            if len(images) == 1:
                raise
        outcomes: list[CaptionResult | Exception] = []
        for image in images:
            try:
                outcomes.extend(self.caption([image], options))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
