""""add": the Keras tutorials' merge model. A text-only LSTM; its output plus an image projection,
through a dense layer, predicts the next word."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from captioner.training.networks.base import Decoder, DecoderConfig, State


LEGACY_KEYS = ("init_h.", "init_c.")  # model files written before this style lost its unused initial-state layers


class AddDecoder(Decoder):
    initial_state_layers = ("image_proj",)
    starts_from_image = False  # the LSTM starts from zeros: it sees only text

    def __init__(self, config: DecoderConfig):
        super().__init__(config)
        c = config
        self.lstm = nn.LSTM(c.embed_dim, c.hidden_dim, batch_first=True)
        self.image_proj = nn.Linear(c.feature_dim, c.hidden_dim)
        self.merge_dense = nn.Linear(c.hidden_dim, c.hidden_dim)

    def _logits(self, hidden: torch.Tensor, image_proj: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(F.relu(self.merge_dense(hidden + image_proj))))

    def forward(self, pooled, grid, inputs):
        words = self.drop(self.embed(inputs))  # (B, T, E)
        zeros = pooled.new_zeros(1, pooled.shape[0], self.config.hidden_dim)  # the LSTM sees only text
        hidden, _ = self.lstm(words, (zeros, zeros.clone()))  # (B, T, H)
        image_proj = F.relu(self.image_proj(self.drop(pooled))).unsqueeze(1)  # (B, 1, H)
        return self._logits(hidden, image_proj), None

    def init_state(self, pooled, grid) -> State:
        zeros = pooled.new_zeros(pooled.shape[0], self.config.hidden_dim)  # (B, H)
        return zeros, zeros.clone(), F.relu(self.image_proj(pooled))

    def step(self, tokens, state):
        out, (h, c) = self.lstm(self.embed(tokens).unsqueeze(1), (state[0].unsqueeze(0), state[1].unsqueeze(0)))
        logits = self._logits(out[:, 0], state[2])  # (B, V)
        return torch.log_softmax(logits, dim=-1), (h[0], c[0], state[2])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Weights, those of older model files (which carry unused init_h/init_c layers) too."""
        kept = {k: v for k, v in state_dict.items() if not k.startswith(LEGACY_KEYS)}
        return super().load_state_dict(kept, strict=strict, assign=assign)
