"""A trained model as one small file: decoder config + weights (float16), vocabulary, encoder name.

Shipped models live in captioner/models/<name>.pt and are found by name; any other path works too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from captioner.atomic import atomic_path
from captioner.runtime.data.vocab import Vocabulary
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.language_model import LanguageModel, LanguageModelConfig
from captioner.training.networks.open_vocab import check_trained_size
from captioner.errors import CaptionerError
from captioner.runtime.model.files import resolve_model

FORMAT = "captioner-model/1"


@dataclass
class ModelBundle:
    decoder: Decoder
    vocab: Vocabulary
    encoder: dict  # Encoder.describe(): name, input_size, feature_dim, grid_size
    info: dict = field(default_factory=dict)  # training config, scores, timings
    language_model: LanguageModel | None = None  # text-only LM over the same vocabulary, for fusion
    background_lm: LanguageModel | None = None  # a second one whose log-probabilities fusion subtracts

    @property
    def source_offsets(self):
        """The decoder's per-source feature shifts (S, D) as numpy, or None (DecoderConfig.sources)."""
        return self.decoder.source_offsets

    @property
    def trained_size(self) -> int:
        """Ids below this were learned from captions; the rest are open-vocabulary words."""
        return check_trained_size(self.vocab, self.info.get("trained_vocab_size"))


SCALE_SUFFIX = "::scale"


def compress_state(state: dict[str, torch.Tensor], precision: str) -> dict[str, torch.Tensor]:
    """float16 everywhere, or int8 matrices with one float scale per row (half the size again)."""
    if precision not in ("float16", "int8"):
        raise CaptionerError(f"precision must be float16 or int8, not {precision!r}")
    packed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.detach().cpu()  # a model trained on a GPU is saved like any other
        if precision == "int8" and value.is_floating_point() and value.dim() == 2:
            scale = value.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127.0  # (rows, 1)
            packed[key] = torch.round(value / scale).to(torch.int8)
            packed[key + SCALE_SUFFIX] = scale.float()
        else:
            packed[key] = value.half() if value.is_floating_point() else value
    return packed


def expand_state(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in packed.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        scale = packed.get(key + SCALE_SUFFIX)
        state[key] = value.float() * scale if scale is not None else (value.float() if value.is_floating_point() else value)
    return state


def save_bundle(path: str | Path, bundle: ModelBundle, precision: str = "float16") -> None:
    state = compress_state(bundle.decoder.state_dict(), precision)
    payload = {
        "format": FORMAT,
        "decoder_config": asdict(bundle.decoder.config),
        "vocab": list(bundle.vocab.words),
        "encoder": dict(bundle.encoder),
        "info": bundle.info,
        "state_dict": state,
    }
    for key, model in (("language_model", bundle.language_model), ("background_lm", bundle.background_lm)):
        if model is not None:
            payload[key] = {"config": asdict(model.config), "state_dict": compress_state(model.state_dict(), precision)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_bundle(name_or_path: str | Path | None = None) -> ModelBundle:
    path = resolve_model(name_or_path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise CaptionerError(f"{path}: not a captioner model file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CaptionerError(f"{path}: not a captioner model file (format {payload.get('format') if isinstance(payload, dict) else '?'})")
    try:
        decoder = build_decoder(DecoderConfig.from_dict(payload["decoder_config"]))
        decoder.load_state_dict(expand_state(payload["state_dict"]))
        language_model, background_lm = (_language_model(payload.get(key)) for key in ("language_model", "background_lm"))
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CaptionerError(f"{path}: damaged captioner model file ({type(exc).__name__}: {str(exc)[:120]})") from None
    decoder.eval()
    bundle = ModelBundle(decoder, Vocabulary(payload["vocab"]), payload["encoder"], payload.get("info", {}), language_model,
                         background_lm)
    for model in (language_model, background_lm):
        if model is not None and model.config.vocab_size != len(bundle.vocab):
            raise CaptionerError(f"{path}: its language model has {model.config.vocab_size} words, the vocabulary {len(bundle.vocab)}")
    return bundle


def _language_model(stored: dict | None) -> LanguageModel | None:
    if stored is None:
        return None
    model = LanguageModel(LanguageModelConfig(**stored["config"]))
    model.load_state_dict(expand_state(stored["state_dict"]))
    return model.eval()
