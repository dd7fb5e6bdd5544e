"""Sampling captions from a PyTorch decoder, word by word (self-critical training's exploration).

Unlike the search engine (numpy, shared with ONNX Runtime inference), this runs on torch tensors:
training needs the decoder's own tensors and a torch random generator.
"""

from __future__ import annotations

from typing import Callable

import torch

from captioner.runtime.search.engine import NEG_INF

TorchState = tuple[torch.Tensor, ...]
TorchStepFn = Callable[[torch.Tensor, TorchState], tuple[torch.Tensor, TorchState]]  # tokens (N,) -> (N, V)


@torch.no_grad()
def sample_search(
    step: TorchStepFn,
    state: TorchState,
    bos_id: int,
    eos_id: int,
    max_length: int,
    never: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One caption per row drawn word by word from the decoder's distribution (self-critical training).

    Returns ids (N, max_length + 1) ending in <end> (forced at the last step if not drawn earlier),
    padded with 0 after it. Ids in `never` are not drawn.
    """
    rows = state[0].shape[0]
    tokens = torch.full((rows,), bos_id, dtype=torch.long)
    out = torch.zeros(rows, max_length + 1, dtype=torch.long)  # (N, T)
    done = torch.zeros(rows, dtype=torch.bool)
    never_ids = torch.tensor(sorted(set(never)), dtype=torch.long)
    for t in range(max_length + 1):
        log_probs, state = step(tokens, state)  # (N, V)
        log_probs = log_probs.float()
        if len(never_ids):
            log_probs[:, never_ids] = NEG_INF
        if t == 0:
            log_probs[:, eos_id] = NEG_INF  # never an empty caption
        if t == max_length:
            tokens = torch.full((rows,), eos_id, dtype=torch.long)
        else:
            probs = log_probs.exp()  # (N, V)
            probs[done | (probs.sum(1) <= 0), eos_id] = 1.0  # finished rows (and rows with nothing left) end
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)
        out[:, t] = tokens.masked_fill(done, 0)
        done |= tokens == eos_id
        if bool(done.all()):
            break
    return out
