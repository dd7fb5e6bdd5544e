""""inject": Show-and-Tell. The image sets the LSTM's initial (h, c) state; the LSTM then reads words."""

from __future__ import annotations

import torch
from torch import nn

from captioner.training.networks.base import Decoder, DecoderConfig, State


class InjectDecoder(Decoder):
    def __init__(self, config: DecoderConfig):
        super().__init__(config)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True)

    def forward(self, pooled, grid, inputs):
        words = self.drop(self.embed(inputs))  # (B, T, E)
        h, c = self._start(pooled)
        hidden, _ = self.lstm(words, (h.unsqueeze(0), c.unsqueeze(0)))  # (B, T, H)
        return self.out(self.drop(hidden)), None

    def init_state(self, pooled, grid) -> State:
        return self._start(pooled)

    def step(self, tokens, state):
        out, (h, c) = self.lstm(self.embed(tokens).unsqueeze(1), (state[0].unsqueeze(0), state[1].unsqueeze(0)))
        return torch.log_softmax(self.out(self.drop(out[:, 0])), dim=-1), (h[0], c[0])
