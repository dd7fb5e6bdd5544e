"""Turn token-id lists into padded teacher-forcing tensors (whole sequences, not word prefixes)."""

from __future__ import annotations

import torch


def pad_batch(sequences: list[list[int]], pad_id: int = 0, max_length: int | None = None) -> torch.Tensor:
    """Right-pad id lists to one (batch, longest) LongTensor, truncating to max_length if given."""
    if max_length is not None:
        sequences = [s[:max_length] for s in sequences]
    longest = max(len(s) for s in sequences)
    batch = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        batch[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return batch


def teacher_forcing_pair(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, T) ids with <start>...<end> -> inputs (batch, T-1) and next-word targets (batch, T-1)."""
    return batch[:, :-1], batch[:, 1:]
