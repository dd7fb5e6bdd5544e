"""A PyTorch decoder or language model seen through numpy arrays, for the (numpy) search engine.

`TorchRunner(model)` has the same `init_state` / `step` / `attention` as the ONNX Runtime runners
shipped for inference (inference/onnx_decoder.py), so one search drives both. Arrays cross into
torch without copies; a state part the step hands back untouched (the attention grid) comes back
as the very same array, so search knows it is static and never reorders it.
"""

from __future__ import annotations

import numpy as np
import torch

from captioner.runtime.search.captions import routed


State = tuple[np.ndarray, ...]


class TorchRunner:
    numpy_io = True

    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()
        self.device = next(model.parameters()).device  # arrays go there and come back to the CPU
        config = model.config
        self.uses_grid = bool(getattr(model, "uses_grid", False))  # decoders say; a language model reads no grid
        self.vocab_size = config.vocab_size

    @torch.inference_mode()
    def init_state(self, *inputs) -> State:
        """Decoder: (pooled (B, D), grid (B, L, D) | None); language model: (batch size,)."""
        args = [torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device) if isinstance(x, np.ndarray) else x
                for x in inputs]
        return tuple(part.cpu().numpy() for part in self.model.init_state(*args))

    @torch.inference_mode()
    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """tokens (N,) -> log-probabilities (N, V) and the new state (a state part of one row is
        broadcast to all rows: the decoders' step code allows it)."""
        inputs = tuple(torch.from_numpy(part).to(self.device) for part in state)
        log_probs, new = self.model.step(torch.from_numpy(tokens).to(self.device), inputs)
        out = tuple(old if part is given else part.cpu().numpy() for part, given, old in zip(new, inputs, state))
        return log_probs.float().cpu().numpy(), out

    step.broadcasts = True  # search.broadcasting's mark, set without a call at import (mutmut trampolines that function)

    def attention(self, state: State) -> np.ndarray:
        """(N, L) weights over the grid cells used for the latest step (attention decoders only)."""
        return np.asarray(self.model.attention(state))


def decoder_runner(bundle):
    """A ModelBundle's decoder seen through numpy: a TorchRunner, or a RoutedDecoder over TorchRunners
    when some caption sources have decoders of their own (ModelBundle.source_decoders)."""
    return routed(TorchRunner(bundle.decoder), {source: TorchRunner(d) for source, d in bundle.source_decoders.items()})
