"""What every caption decoder shares.

A decoder turns image features and the words so far into next-word scores. `forward` trains on
whole teacher-forced sequences; `init_state` + `step` drive every search. A state is a tuple of
tensors whose first dimension is the batch, so search can reorder it. A new style is one module
with a subclass plus one line in config.STYLES (or a styles.register call): styles.build_decoder(config)
builds the class named by `config.style`.
"""

from __future__ import annotations

import torch
from torch import nn

from captioner.training.networks.config import DecoderConfig

State = tuple[torch.Tensor, ...]


class WordEmbedding(nn.Module):
    """Learned embeddings, or a GloVe table (frozen or tuned) projected to embed_dim."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.glove = config.embeddings.startswith("glove")
        width = config.glove_dim if self.glove else config.embed_dim
        self.table = nn.Embedding(config.vocab_size, width, padding_idx=0)
        self.project = nn.Linear(width, config.embed_dim) if self.glove else nn.Identity()
        if config.embeddings == "glove-frozen":
            self.table.weight.requires_grad_(False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.project(self.table(tokens))


class Decoder(nn.Module):
    """Base of every style: word embeddings, the image -> initial (h, c) layers, the output layer."""

    uses_grid = False  # True for styles that attend over the grid
    initial_state_layers: tuple[str, ...] = ("init_h", "init_c")  # what init_state reads besides the features
    starts_from_image = True  # the LSTM's initial (h, c) come from the image (init_h, init_c)

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed = WordEmbedding(c)
        self.drop = nn.Dropout(c.dropout)
        if self.starts_from_image:
            self.init_h = nn.Linear(c.feature_dim, c.hidden_dim)
            self.init_c = nn.Linear(c.feature_dim, c.hidden_dim)
        self.out = nn.Linear(c.hidden_dim, c.vocab_size)
        if c.sources > 1:
            self.source_shift = nn.Parameter(torch.zeros(c.sources, c.feature_dim))  # (S, D)

    def shift(self, pooled: torch.Tensor, grid: torch.Tensor | None, sources: torch.Tensor | None):
        """Each photo's features plus its source's learned shift: pooled (B, D), grid (B, L, D) or
        None, sources (B,) ids or None (no shift, as for a decoder with one source)."""
        if sources is None or self.config.sources <= 1:
            return pooled, grid
        offset = self.source_shift[sources]  # (B, D)
        return pooled + offset, None if grid is None else grid + offset.unsqueeze(1)

    @property
    def source_offsets(self):
        """The shifts as a numpy (S, D) array for inference, or None with one source."""
        return self.source_shift.detach().float().cpu().numpy() if self.config.sources > 1 else None

    def _start(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pooled (B, D) -> initial h, c (B, H) each."""
        image = self.drop(pooled)
        return torch.tanh(self.init_h(image)), torch.tanh(self.init_c(image))

    def forward(self, pooled: torch.Tensor, grid: torch.Tensor | None, inputs: torch.Tensor):
        """pooled (B, D), grid (B, L, D) or None, inputs (B, T) ids -> logits (B, T, V), alphas (B, T, L) | None."""
        raise NotImplementedError

    def init_state(self, pooled: torch.Tensor, grid: torch.Tensor | None) -> State:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """tokens (B,) -> log-probabilities (B, V) for the next word, and the new state."""
        raise NotImplementedError

    def attention(self, state: State) -> torch.Tensor:
        """(B, L) weights over the grid cells used for the latest step (attention styles only)."""
        raise ValueError(f"a {self.config.style!r} decoder has no attention")
