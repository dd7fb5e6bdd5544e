"""The LSTM caption decoder, in three conditioning styles sharing one step interface.

- "add":       merge model of the Keras tutorials: text LSTM output + image projection, then dense.
- "inject":    Show-and-Tell: the image sets the LSTM's initial (h, c) state.
- "attention": Show-Attend-Tell soft attention over the encoder's spatial grid at every step.

`forward` trains on whole teacher-forced sequences; `init_state` + `step` drive beam search.
A state is a tuple of tensors whose first dimension is the batch, so search can reorder it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

MERGE_STYLES = ("add", "inject", "attention")
State = tuple[torch.Tensor, ...]


@dataclass
class DecoderConfig:
    vocab_size: int
    feature_dim: int  # pooled vector / grid cell channels (1280 for EfficientNet-Lite, 2048 Inception)
    merge: str = "attention"
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5
    embeddings: str = "learned"  # learned | glove-frozen | glove-finetune
    glove_dim: int = 50

    @property
    def uses_grid(self) -> bool:
        return self.merge == "attention"


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


class CaptionDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        if config.merge not in MERGE_STYLES:
            raise ValueError(f"merge must be one of {MERGE_STYLES}, not {config.merge!r}")
        self.config = config
        c = config
        self.embed = WordEmbedding(c)
        self.drop = nn.Dropout(c.dropout)
        self.init_h = nn.Linear(c.feature_dim, c.hidden_dim)
        self.init_c = nn.Linear(c.feature_dim, c.hidden_dim)
        if c.merge == "attention":
            self.cell = nn.LSTMCell(c.embed_dim + c.feature_dim, c.hidden_dim)
            self.att_grid = nn.Linear(c.feature_dim, c.attention_dim)
            self.att_hidden = nn.Linear(c.hidden_dim, c.attention_dim)
            self.att_score = nn.Linear(c.attention_dim, 1)
            self.gate = nn.Linear(c.hidden_dim, c.feature_dim)
        else:
            self.lstm = nn.LSTM(c.embed_dim, c.hidden_dim, batch_first=True)
        if c.merge == "add":
            self.image_proj = nn.Linear(c.feature_dim, c.hidden_dim)
            self.merge_dense = nn.Linear(c.hidden_dim, c.hidden_dim)
        self.out = nn.Linear(c.hidden_dim, c.vocab_size)

    # ----- shared pieces -------------------------------------------------------------------
    def _start(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.merge == "add":  # the merge model's LSTM sees only text
            zeros = pooled.new_zeros(pooled.shape[0], self.config.hidden_dim)
            return zeros, zeros.clone()
        image = self.drop(pooled)
        return torch.tanh(self.init_h(image)), torch.tanh(self.init_c(image))  # (B, H) each

    def _logits(self, hidden: torch.Tensor, image_proj: torch.Tensor | None) -> torch.Tensor:
        if self.config.merge == "add":
            hidden = F.relu(self.merge_dense(hidden + image_proj))
        return self.out(self.drop(hidden))

    def _attend(self, h: torch.Tensor, grid: torch.Tensor, grid_proj: torch.Tensor):
        scores = self.att_score(torch.tanh(grid_proj + self.att_hidden(h).unsqueeze(1))).squeeze(2)  # (B, L)
        alpha = torch.softmax(scores, dim=1)  # (B, L)
        context = torch.bmm(alpha.unsqueeze(1), grid).squeeze(1)  # (B, D)
        return torch.sigmoid(self.gate(h)) * context, alpha

    # ----- training ------------------------------------------------------------------------
    def forward(self, pooled: torch.Tensor, grid: torch.Tensor | None, inputs: torch.Tensor):
        """pooled (B, D), grid (B, L, D) or None, inputs (B, T) ids -> logits (B, T, V), alphas (B, T, L)|None."""
        words = self.drop(self.embed(inputs))  # (B, T, E)
        h, c = self._start(pooled)
        if self.config.merge != "attention":
            hidden, _ = self.lstm(words, (h.unsqueeze(0), c.unsqueeze(0)))  # (B, T, H)
            image_proj = None
            if self.config.merge == "add":
                image_proj = F.relu(self.image_proj(self.drop(pooled))).unsqueeze(1)  # (B, 1, H)
            return self._logits(hidden, image_proj), None
        grid_proj = self.att_grid(grid)  # (B, L, A)
        hiddens, alphas = [], []
        for t in range(inputs.shape[1]):
            context, alpha = self._attend(h, grid, grid_proj)
            h, c = self.cell(torch.cat([words[:, t], context], dim=1), (h, c))  # (B, H)
            hiddens.append(h)
            alphas.append(alpha)
        return self._logits(torch.stack(hiddens, 1), None), torch.stack(alphas, 1)

    # ----- step interface for search ---------------------------------------------------------
    def init_state(self, pooled: torch.Tensor, grid: torch.Tensor | None) -> State:
        h, c = self._start(pooled)
        if self.config.merge == "add":
            return h, c, F.relu(self.image_proj(pooled))
        if self.config.merge == "attention":  # the last element: attention of the latest step
            return h, c, grid, self.att_grid(grid), grid.new_zeros(grid.shape[:2])  # ..., (B, L)
        return h, c

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """tokens (B,) -> log-probabilities (B, V) for the next word, and the new state."""
        word = self.embed(tokens)  # (B, E)
        h, c = state[0], state[1]
        if self.config.merge == "attention":
            grid, grid_proj = state[2], state[3]
            context, alpha = self._attend(h, grid, grid_proj)  # (B, D), (B, L)
            h, c = self.cell(torch.cat([word, context], dim=1), (h, c))
            logits = self._logits(h, None)
            new_state: State = (h, c, grid, grid_proj, alpha)
        else:
            out, (h1, c1) = self.lstm(word.unsqueeze(1), (h.unsqueeze(0), c.unsqueeze(0)))
            h, c = h1[0], c1[0]
            image_proj = state[2] if self.config.merge == "add" else None
            logits = self._logits(out[:, 0], image_proj)
            new_state = (h, c) + tuple(state[2:])
        return torch.log_softmax(logits, dim=-1), new_state

    def attention(self, state: State) -> torch.Tensor:
        """(B, L) weights over the grid cells used for the latest step (attention decoder only)."""
        if self.config.merge != "attention":
            raise ValueError(f"a {self.config.merge!r} decoder has no attention")
        return state[4]
