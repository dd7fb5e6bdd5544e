"""Shallow fusion: a decoder's step plus a weighted language model's step, as one step function.

The fused state is the decoder's state followed by the language model's and a (rows, 1) weight
column, so each image can have its own weight (0 leaves its captions as the decoder alone writes
them). The weight column passes through each step unchanged, so search does not reorder it.
"""

from __future__ import annotations

import numpy as np

from captioner.runtime.search.engine import State, StepFn, broadcasting, broadcasts


def fused_state(decoder_state: State, lm_state: State, weights) -> State:
    """weights (B,) per image -> the state `fuse` expects."""
    return tuple(decoder_state) + tuple(lm_state) + (np.asarray(weights, np.float32).reshape(-1, 1),)


def fuse(decoder_step: StepFn, lm_step: StepFn, decoder_parts: int) -> StepFn:
    """A step function over fused states; the decoder's state is the first `decoder_parts` tensors."""

    def step(tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        weights = state[-1]  # (N, 1)
        dec_logp, dec_state = decoder_step(tokens, state[:decoder_parts])  # (N, V)
        lm_logp, lm_state = lm_step(tokens, state[decoder_parts:-1])  # (N, V)
        return dec_logp + weights * lm_logp, tuple(dec_state) + tuple(lm_state) + (weights,)

    return broadcasting(step) if broadcasts(decoder_step) and broadcasts(lm_step) else step
