""""attention": Show-Attend-Tell soft attention over the encoder's spatial grid at every step,
with the gate on the context and the doubly stochastic penalty (in training)."""

from __future__ import annotations

import torch
from torch import nn

from captioner.training.networks.base import Decoder, DecoderConfig, State


class AttentionDecoder(Decoder):
    uses_grid = True
    initial_state_layers = ("init_h", "init_c", "att_grid")

    def __init__(self, config: DecoderConfig):
        super().__init__(config)
        c = config
        self.cell = nn.LSTMCell(c.embed_dim + c.feature_dim, c.hidden_dim)
        self.att_grid = nn.Linear(c.feature_dim, c.attention_dim)
        self.att_hidden = nn.Linear(c.hidden_dim, c.attention_dim)
        self.att_score = nn.Linear(c.attention_dim, 1)
        self.gate = nn.Linear(c.hidden_dim, c.feature_dim)

    def _attend(self, h: torch.Tensor, grid: torch.Tensor, grid_proj: torch.Tensor):
        """h (B, H), grid (B, L, D), grid_proj (B, L, A) -> gated context (B, D), weights (B, L)."""
        scores = self.att_score(torch.tanh(grid_proj + self.att_hidden(h).unsqueeze(1))).squeeze(2)  # (B, L)
        alpha = torch.softmax(scores, dim=1)  # (B, L)
        context = torch.matmul(alpha.unsqueeze(1), grid).squeeze(1)  # (B, D); a grid of one row serves every row
        return torch.sigmoid(self.gate(h)) * context, alpha

    def forward(self, pooled, grid, inputs):
        words = self.drop(self.embed(inputs))  # (B, T, E)
        h, c = self._start(pooled)
        grid_proj = self.att_grid(grid)  # (B, L, A)
        hiddens, alphas = [], []
        for t in range(inputs.shape[1]):
            context, alpha = self._attend(h, grid, grid_proj)
            h, c = self.cell(torch.cat([words[:, t], context], dim=1), (h, c))  # (B, H)
            hiddens.append(h)
            alphas.append(alpha)
        return self.out(self.drop(torch.stack(hiddens, 1))), torch.stack(alphas, 1)

    def init_state(self, pooled, grid) -> State:
        h, c = self._start(pooled)  # the last element: attention of the latest step
        return h, c, grid, self.att_grid(grid), grid.new_zeros(grid.shape[:2])  # ..., (B, L)

    def step(self, tokens, state):
        h, c, grid, grid_proj = state[:4]
        context, alpha = self._attend(h, grid, grid_proj)  # (B, D), (B, L)
        h, c = self.cell(torch.cat([self.embed(tokens), context], dim=1), (h, c))
        return torch.log_softmax(self.out(self.drop(h)), dim=-1), (h, c, grid, grid_proj, alpha)

    def attention(self, state: State) -> torch.Tensor:
        return state[4]
