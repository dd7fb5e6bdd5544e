"""A trained model as one small file: decoder config + weights (float16), vocabulary, encoder name.

Shipped models live in captioner/models/<name>.pt and are found by name; any other path works too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from captioner.atomic import atomic_path
from captioner.runtime.data.vocab import Vocabulary
from captioner.training.networks.base import Decoder
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
    # caption source -> a decoder of its own over the same vocabulary (source 1: everyday photos, as
    # grounding.decoder_sources routes them); photos of any other source take `decoder`
    source_decoders: dict[int, Decoder] = field(default_factory=dict)

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


def save_bundle(path: str | Path, bundle: ModelBundle, precision: str = "float16", source_precision: str | None = None) -> None:
    """source_precision: the source decoders' (default: `precision`)."""
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
    if bundle.source_decoders:
        main = bundle.decoder.state_dict()
        payload["source_decoders"] = {}
        for source, decoder in sorted(bundle.source_decoders.items()):
            own = decoder.state_dict()
            shared = sorted(k for k, v in own.items() if k in main and main[k].shape == v.shape and torch.equal(main[k], v))
            payload["source_decoders"][str(source)] = {  # weights equal to the main decoder's are stored once
                "config": asdict(decoder.config), "shared": shared,
                "state_dict": compress_state({k: v for k, v in own.items() if k not in shared}, source_precision or precision)}
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
        decoder = _decoder(payload["decoder_config"], payload["state_dict"])
        language_model, background_lm = (_language_model(payload.get(key)) for key in ("language_model", "background_lm"))
        main = payload["state_dict"]
        sources = {int(source): _decoder(stored["config"], {**_shared(main, stored["shared"]), **stored["state_dict"]})
                   for source, stored in payload.get("source_decoders", {}).items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CaptionerError(f"{path}: damaged captioner model file ({type(exc).__name__}: {str(exc)[:120]})") from None
    bundle = ModelBundle(decoder, Vocabulary(payload["vocab"]), payload["encoder"], payload.get("info", {}), language_model,
                         background_lm, sources)
    for source, other in sources.items():
        problem = check_source_decoder(decoder, other)
        if problem:
            raise CaptionerError(f"{path}: its decoder for source {source} {problem}")
    for model in (language_model, background_lm):
        if model is not None and model.config.vocab_size != len(bundle.vocab):
            raise CaptionerError(f"{path}: its language model has {model.config.vocab_size} words, the vocabulary {len(bundle.vocab)}")
    return bundle


def check_source_decoder(decoder: Decoder, other: Decoder) -> str | None:
    """Why `other` cannot caption some photos in `decoder`'s place (None: it can): the same
    vocabulary size, features and grid use."""
    if other.config.vocab_size != decoder.config.vocab_size:
        return f"has {other.config.vocab_size} words, the main decoder {decoder.config.vocab_size}"
    if other.config.feature_dim != decoder.config.feature_dim:
        return f"reads {other.config.feature_dim} features, the main decoder {decoder.config.feature_dim}"
    if other.uses_grid != decoder.uses_grid:
        return "and the main decoder differ in reading the image grid"
    return None


def _shared(packed: dict[str, torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
    """The main decoder's stored tensors (and int8 scales) that a source decoder shares."""
    return {k: v for k, v in packed.items() if k in keys or (k.endswith(SCALE_SUFFIX) and k[: -len(SCALE_SUFFIX)] in keys)}


def _decoder(config: dict, state: dict) -> Decoder:
    decoder = build_decoder(DecoderConfig.from_dict(config))
    decoder.load_state_dict(expand_state(state))
    return decoder.eval()


def _language_model(stored: dict | None) -> LanguageModel | None:
    if stored is None:
        return None
    model = LanguageModel(LanguageModelConfig(**stored["config"]))
    model.load_state_dict(expand_state(stored["state_dict"]))
    return model.eval()
