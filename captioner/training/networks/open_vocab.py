"""Open vocabulary: give a trained decoder words that no training caption contains.

A new word gets input and output rows (embedding, output weights and bias) made from the rows of
its nearest trained words in GloVe space (cosine, similarity-weighted mean of the k nearest), so
"giraffe" is read and scored like the animals the decoder knows. A GloVe-embedding decoder reads
the word's own GloVe vector. New words sit after the trained ones (ids >= `trained_size`); search
lets an image use them only where its visual concepts ask for them.
"""

from __future__ import annotations

import numpy as np
import torch

from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.training.networks.glove import glove_lookup
from captioner.training.networks.base import Decoder, DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.errors import CaptionerError


def nearest_rows(new_vectors: np.ndarray, known_vectors: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """For each new vector (N, G): the indices (N, k) of its k most cosine-similar known vectors (M, G)
    and mixing weights (N, k) proportional to the (positive part of the) similarity, summing to 1."""
    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)

    sims = unit(new_vectors) @ unit(known_vectors).T  # (N, M)
    index = np.argsort(-sims, axis=1)[:, :k]  # (N, k)
    weights = np.maximum(np.take_along_axis(sims, index, axis=1), 1e-3)  # (N, k)
    return index, weights / weights.sum(axis=1, keepdims=True)


@torch.no_grad()
def extend_vocabulary(decoder: Decoder, vocab: Vocabulary, words: list[str], k: int = 5
                      ) -> tuple[Decoder, Vocabulary, list[str]]:
    """A copy of `decoder` and `vocab` that also know `words` (those GloVe has and vocab lacks).

    Returns the new decoder, the new vocabulary and the words actually added, in id order.
    """
    candidates = sorted({w for w in words if w not in vocab.index})
    new_glove, have = glove_lookup(candidates)  # (N, 50)
    added = [w for w, ok in zip(candidates, have) if ok]  # a word GloVe lacks cannot be placed
    if not added:
        return decoder, vocab, []
    new_glove = new_glove[have]
    known_glove, known = glove_lookup(list(vocab.words))  # (V, 50)
    trainable = [i for i, w in enumerate(vocab.words) if w not in SPECIALS and known[i]]
    index, weights = nearest_rows(new_glove, known_glove[trainable], k)
    neighbours = torch.as_tensor(np.asarray(trainable)[index])  # (N, k) ids in the old vocabulary
    mix = torch.as_tensor(weights, dtype=torch.float32).unsqueeze(2)  # (N, k, 1)

    def blend(rows: torch.Tensor) -> torch.Tensor:  # rows (V, ...) -> (N, ...)
        picked = rows[neighbours]  # (N, k, ...)
        return (picked * mix.view(mix.shape[0], mix.shape[1], *([1] * (picked.dim() - 2)))).sum(dim=1)

    old = decoder.state_dict()
    config = DecoderConfig(**{**vars(decoder.config), "vocab_size": len(vocab) + len(added)})
    bigger = build_decoder(config)
    state = bigger.state_dict()
    for key, value in old.items():
        if key in ("embed.table.weight", "out.weight", "out.bias"):
            extra = blend(value)
            if key == "embed.table.weight" and decoder.embed.glove:
                extra = torch.as_tensor(new_glove, dtype=value.dtype)  # a GloVe table reads the word's own vector
            state[key] = torch.cat([value, extra.to(value.dtype)], dim=0)
        else:
            state[key] = value
    bigger.load_state_dict(state)
    bigger.eval()
    return bigger, Vocabulary(list(vocab.words) + added), added


def check_trained_size(vocab: Vocabulary, trained_size: int | None) -> int:
    """Ids at or above this are open-vocabulary words (none if the model was not extended)."""
    size = len(vocab) if trained_size is None else int(trained_size)
    if not 4 <= size <= len(vocab):
        raise CaptionerError(f"model file is inconsistent: trained_vocab_size {size} with {len(vocab)} words")
    return size


@torch.no_grad()
def trim_vocabulary(decoder: Decoder, vocab: Vocabulary, size: int) -> tuple[Decoder, Vocabulary]:
    """A copy of `decoder` and `vocab` that keep only the first `size` words (the trained ones):
    the inverse of `extend_vocabulary`, for training a model that was shipped extended."""
    if size >= len(vocab):
        return decoder, vocab
    config = DecoderConfig(**{**vars(decoder.config), "vocab_size": size})
    smaller = build_decoder(config)
    state = {key: value[:size] if key in ("embed.table.weight", "out.weight", "out.bias") else value
             for key, value in decoder.state_dict().items()}
    smaller.load_state_dict(state)
    return smaller, Vocabulary(list(vocab.words[:size]))
