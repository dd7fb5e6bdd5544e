"""Shallow fusion: a decoder's step plus a weighted language model's step, as one step function.

The fused state is the decoder's state followed by the language model's and a (rows, 1) weight
column, so each image can have its own weight (0 leaves its captions as the decoder alone writes
them). The weight column passes through each step unchanged, so search does not reorder it.
"""

from __future__ import annotations

import numpy as np

from captioner.runtime.search.engine import State, StepFn, broadcasting, broadcasts


class DensityRatio:
    """A language model with a background model subtracted, as one numpy runner: log p(w) - beta *
    log p_background(w) (density-ratio fusion, McDermott et al. 2019). With COCO's captions as the
    model and Flickr8k's as the background, fusion favours what COCO says more than Flickr8k says
    ("black and white", "in the water" lose). The two states lie side by side."""

    numpy_io = True
    uses_grid = False

    def __init__(self, model, background, beta: float):
        self.model, self.background, self.beta = model, background, float(beta)
        self.parts = None  # how many state parts are the model's (set by init_state)

    def init_state(self, batch: int) -> State:
        first = tuple(self.model.init_state(batch))
        self.parts = len(first)
        return first + tuple(self.background.init_state(batch))

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        logp, new = self.model.step(tokens, state[: self.parts])  # (N, V)
        background, new_background = self.background.step(tokens, state[self.parts :])  # (N, V)
        return logp - self.beta * background, tuple(new) + tuple(new_background)

    step.broadcasts = True  # both runners (ONNX Runtime's and TorchRunner) broadcast a state part of one row


def with_background(language_model, background, beta: float):
    """The language model fusion uses: density ratio when there is a background model and beta > 0."""
    if language_model is None or background is None or beta <= 0:
        return language_model
    return DensityRatio(language_model, background, beta)


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
