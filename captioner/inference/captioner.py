"""Images in, captions out: the shipped (or any) model bundle plus its encoder, loaded once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from captioner.decoding import SearchConfig
from captioner.encoders import create_encoder
from captioner.encoders.onnx_runtime import maybe_onnx
from captioner.inference.bundle import load_bundle, resolve_model
from captioner.inference.decode import caption_features, to_text


@dataclass
class CaptionResult:
    caption: str
    alternatives: list[dict]  # [{"caption": str, "score": float, "log_prob": float}], best first
    timings_ms: dict[str, float] = field(default_factory=dict)


class Captioner:
    def __init__(self, model: str | None = None, encoder_weights: str | None = None, backend: str = "auto"):
        """backend: "auto" runs the encoder in ONNX Runtime where it can (faster), "torch" never does."""
        started = time.perf_counter()
        self.model_path = resolve_model(model)
        self.bundle = load_bundle(self.model_path)
        self.encoder = create_encoder(self.bundle.encoder["name"], encoder_weights)
        if backend == "auto":
            self.encoder = maybe_onnx(self.encoder)
        self.load_ms = 1000 * (time.perf_counter() - started)

    @property
    def metadata(self) -> dict:
        info = self.bundle.info
        return {
            "model": self.model_path.stem,
            "encoder": {**self.encoder.describe(), "runtime": type(self.encoder).__name__},
            "decoder": {k: v for k, v in vars(self.bundle.decoder.config).items()},
            "vocabulary_size": len(self.bundle.vocab),
            "test_scores": info.get("test_scores"),
            "trained_epochs": info.get("epoch"),
        }

    def caption(self, images: list[Image.Image], search: SearchConfig = SearchConfig()) -> list[CaptionResult]:
        """RGB images (see data.images.load_image) -> one result per image, alternatives ranked."""
        t0 = time.perf_counter()
        pixels = np.stack([self.encoder.preprocess(image) for image in images])  # (B, H, W, 3)
        t1 = time.perf_counter()
        with torch.inference_mode():
            pooled, grid = self.encoder.encode(pixels)  # (B, D), (B, L, D)
        t2 = time.perf_counter()
        vocab = self.bundle.vocab
        hyps = caption_features(self.bundle.decoder, vocab, pooled, grid, search, greedy=search.beam_size <= 1)
        t3 = time.perf_counter()
        per_image = {k: 1000 * v / len(images) for k, v in
                     (("preprocess", t1 - t0), ("encode", t2 - t1), ("decode", t3 - t2))}
        return [
            CaptionResult(
                caption=to_text(vocab, ranked[0]),
                alternatives=[{"caption": to_text(vocab, h), "score": round(h.score, 4), "log_prob": round(h.log_prob, 4)}
                              for h in ranked],
                timings_ms={k: round(v, 1) for k, v in per_image.items()},
            )
            for ranked in hyps
        ]
