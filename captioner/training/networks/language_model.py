"""A small LSTM language model over a decoder's vocabulary, trained on text-only captions.

It knows how people describe everyday scenes ("a plate of broccoli", "a stop sign on a street")
that Flickr8k's captions never show; beam search can add its log-probabilities to the decoder's
(shallow fusion, see decoding/fusion.py). It shares the decoder's word ids, so one is trained for
each vocabulary and saved inside that model's bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LanguageModelConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_dim: int = 256
    dropout: float = 0.3


class LanguageModel(nn.Module):
    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden_dim, config.vocab_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (B, T) ids -> logits (B, T, V) for the next word at every position."""
        hidden, _ = self.lstm(self.drop(self.embed(inputs)))  # (B, T, H)
        return self.out(self.drop(hidden))

    def init_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(batch, self.config.hidden_dim, device=self.out.weight.device)  # (B, H)
        return zeros, zeros.clone()

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """tokens (B,) -> log-probabilities (B, V) of the next word, and the new (h, c)."""
        h, c = state
        lstm = self.lstm  # one cell step with the layer's own weights: much less overhead than nn.LSTM
        h1, c1 = torch.lstm_cell(self.embed(tokens), (h, c), lstm.weight_ih_l0, lstm.weight_hh_l0,
                                 lstm.bias_ih_l0, lstm.bias_hh_l0)  # (B, H) each
        return torch.log_softmax(self.out(h1), dim=-1), (h1, c1)


def reorder_vocabulary(model: LanguageModel, words: list[str], order: list[str]) -> LanguageModel:
    """A copy of `model` (over `words`) that scores the same words in `order`: the same word set in
    another order, as a fine-tune that learned some open-vocabulary words keeps them (init.py)."""
    if sorted(words) != sorted(order) or len(set(words)) != len(words):
        raise ValueError("the language model's words and the new order are not the same words")
    where = {w: i for i, w in enumerate(words)}
    rows = torch.tensor([where[w] for w in order])  # (V,) new id -> old id
    moved = LanguageModel(model.config)
    state = model.state_dict()
    moved.load_state_dict({k: v[rows] if k in ("embed.weight", "out.weight", "out.bias") else v for k, v in state.items()})
    return moved.train(model.training)
