"""Start a training run from a trained model (`captioner train --init-from MODEL`).

The model's trained words keep their ids and rows; words of the new training captions seen at
least `min_count` times that it lacks are appended, their rows made from their GloVe neighbours
(`decoder/open_vocab.py`), so the run fine-tunes on a grown vocabulary instead of starting over.
The model's open-vocabulary words are set aside while training and given back at the end.
"""

from __future__ import annotations

import copy

import torch
import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Iterable

from captioner.runtime.data.vocab import Vocabulary
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.open_vocab import extend_vocabulary, trim_vocabulary
from captioner.training.bundle import load_bundle

log = logging.getLogger(__name__)


@dataclass
class Start:
    decoder: Decoder  # over the grown vocabulary's trained words
    open_words: list[str]  # the model's open-vocabulary words the grown vocabulary still lacks
    model: str  # what it came from


def start_config(model: str) -> DecoderConfig:
    """The decoder config of the model a run starts from (its style and sizes win over the flags)."""
    return load_bundle(model).decoder.config


def new_words(texts: Iterable[list[str]], known: Vocabulary, min_count: int) -> list[str]:
    """Words of `texts` seen at least `min_count` times that `known` lacks, most frequent first."""
    counts = Counter(w for tokens in texts for w in tokens)
    return [w for w, c in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            if c >= min_count and w not in known.index]


def grow_model(model: str, texts: list[list[str]], min_count: int) -> tuple[Start, Vocabulary]:
    """The model's decoder on its trained words plus the new frequent words of `texts`."""
    bundle = load_bundle(model)
    decoder, vocab = trim_vocabulary(bundle.decoder, bundle.vocab, bundle.trained_size)
    wanted = new_words(texts, vocab, min_count)
    decoder, vocab, added = extend_vocabulary(decoder, vocab, wanted)
    missing = sorted(set(wanted) - set(added))
    log.info("grew %s's %d trained words by %d (%d without a GloVe vector left out%s)", model, bundle.trained_size,
             len(added), len(missing), f": {' '.join(missing[:20])}" if missing else "")
    open_words = [w for w in bundle.vocab.words[bundle.trained_size:] if w not in vocab.index]
    decoder.train()
    return Start(decoder, open_words, str(model)), vocab


def finish(decoder: Decoder, vocab: Vocabulary, start: Start) -> tuple[Decoder, Vocabulary, dict]:
    """The trained decoder given back the start's open-vocabulary words (rows from its tuned
    neighbours), and the bundle info that says which ids were trained."""
    extended, full, _ = extend_vocabulary(copy.deepcopy(decoder).cpu(), vocab, start.open_words)
    return extended, full, {"trained_vocab_size": len(vocab), "open_vocabulary": list(full.words[len(vocab):]),
                            "init_from": start.model}


def with_start_config(cfg):
    """`cfg` (a TrainConfig) with the start model's decoder config when it has `init_from`; only its
    number of sources may grow by the flags (a start without source shifts learns them)."""
    if not cfg.init_from:
        return cfg
    start = start_config(cfg.init_from)
    return replace(cfg, decoder=replace(start, vocab_size=0, feature_dim=0, sources=max(start.sources, cfg.decoder.sources)))


def with_sources(decoder: Decoder, sources: int) -> Decoder:
    """The decoder with `sources` source shifts, the new ones zero (so it captions as before)."""
    if decoder.config.sources >= sources:
        return decoder
    grown = build_decoder(replace(decoder.config, sources=sources)).to(next(decoder.parameters()).device)
    state = decoder.state_dict()
    old = state.pop("source_shift", None)
    shift = torch.zeros(sources, decoder.config.feature_dim)  # (S, D)
    if old is not None:
        shift[: len(old)] = old
    grown.load_state_dict({**state, "source_shift": shift})
    grown.train(decoder.training)
    return grown


def with_initial_state_of(decoder: Decoder, main: Decoder) -> Decoder:
    """`decoder` with `main`'s initial-state layers (the same style): as a source decoder, it then starts
    every caption as `main` does, and the export serves both from one init graph. A fine-tune moves
    these layers little (docs/grounding.md: the everyday decoder scored the same with the start's)."""
    if type(decoder) is not type(main):
        raise ValueError(f"a {type(decoder).__name__} cannot take a {type(main).__name__}'s initial state")
    with torch.no_grad():
        for name in decoder.initial_state_layers:
            getattr(decoder, name).load_state_dict(getattr(main, name).state_dict())
    return decoder
