"""A model bundle's decoder and language model run by ONNX Runtime, as numpy step functions.

The runners have the interface the search expects (`init_state`, `step`, `attention`, like
training/networks/torch_runner.TorchRunner) and need neither torch nor the bundle's PyTorch weights:
the files come from export/onnx_export.py (`captioner export-onnx MODEL`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from captioner.errors import CaptionerError
from captioner.runtime.encoders.onnx_runtime import ort_session
from captioner.runtime.model.files import onnx_folder, rebuild_hint, source_suffix
from captioner.runtime.search.captions import routed

META_KEY = "captioner"
State = tuple[np.ndarray, ...]


def load_runners(model_path: str | Path, digest: str | None, has_language_model: bool, folder: Path | None = None,
                 threads: int | None = None, providers: list[str] | None = None, sources: tuple[int, ...] = (),
                 shared_init: tuple[int, ...] = ()):
    """(decoder, OnnxLanguageModel | None) from `folder` (default: beside the model): an OnnxDecoder,
    or a RoutedDecoder over them when the caption `sources` have decoders of their own (those in
    `shared_init` start from the main decoder's init.onnx)."""
    folder = folder or onnx_folder(model_path)
    decoder = routed(OnnxDecoder(model_path, digest, threads, folder, providers),
                     {source: OnnxDecoder(model_path, digest, threads, folder, providers, source, source in shared_init)
                      for source in sources})
    lm = OnnxLanguageModel(model_path, digest, threads, folder, providers) if has_language_model else None
    return decoder, lm


def load_background(model_path: str | Path, digest: str | None, folder: Path | None = None, threads: int | None = None,
                    providers: list[str] | None = None):
    """The background language model density-ratio fusion subtracts (background_lm.onnx)."""
    return OnnxLanguageModel(model_path, digest, threads, folder, providers, file_name="background_lm.onnx")


def _session(path: Path, model_path: str | Path, threads: int | None, providers: list[str] | None = None,
             stepwise: bool = False):
    if not path.is_file():
        raise CaptionerError(f"{path}: ONNX file missing; {rebuild_hint(model_path)}")
    try:
        session = ort_session(path, threads, providers, stepwise)
        meta = json.loads(session.get_modelmeta().custom_metadata_map[META_KEY])
    except Exception as exc:  # protobuf, graph and JSON errors come in many types
        raise CaptionerError(f"{path}: not a valid captioner ONNX file ({type(exc).__name__}); "
                             f"{rebuild_hint(model_path)}") from None
    return session, meta


class _OnnxStep:
    """One step graph: feeds the state parts it reads, and passes the parts it does not change on."""

    numpy_io = True

    def __init__(self, path: Path, model_path: str | Path, digest: str | None, threads: int | None,
                 providers: list[str] | None = None):
        self.session, self.meta = _session(path, model_path, threads, providers, stepwise=True)
        if digest is not None and self.meta.get("bundle_sha256") != digest:
            raise CaptionerError(f"{path} was exported from another version of {model_path}; {rebuild_hint(model_path)}")
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.fed = [(i, f"state{i}") for i in range(self.meta["state_parts"]) if f"state{i}" in self.inputs]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.changed = self.meta["changed"]
        self.vocab_size = self.meta["vocab_size"]

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """tokens (N,) -> log-probabilities (N, V) and the new state (the graphs' products and sums
        broadcast a state part of one row to all rows)."""
        feed = {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)}
        for i, name in self.fed:
            feed[name] = state[i]
        log_probs, *changed = self.session.run(self.outputs, feed)
        new = list(state)
        for i, part in zip(self.changed, changed):
            new[i] = part
        return log_probs, tuple(new)

    step.broadcasts = True  # search.broadcasting's mark, set without a call at import (mutmut trampolines that function)


class OnnxDecoder(_OnnxStep):
    def __init__(self, model_path: str | Path, digest: str | None = None, threads: int | None = None,
                 folder: Path | None = None, providers: list[str] | None = None, source: int | None = None,
                 shared_init: bool = False):
        """source: a caption source's own decoder (step-s1.onnx, and init-s1.onnx unless `shared_init`:
        the main decoder's init.onnx); None: the main one."""
        folder = folder or onnx_folder(model_path)
        suffix = source_suffix(source)
        super().__init__(folder / f"step{suffix}.onnx", model_path, digest, threads, providers)
        init = folder / f"init{'' if shared_init else suffix}.onnx"
        self.init_session, _ = _session(init, model_path, threads, providers, stepwise=True)
        self.uses_grid = bool(self.meta["uses_grid"])
        self.attention_index = self.meta["attention"]

    def init_state(self, pooled: np.ndarray, grid: np.ndarray | None) -> State:
        """pooled (B, D), grid (B, L, D) or None -> the decoder's initial state parts."""
        feed = {"pooled": np.ascontiguousarray(pooled, dtype=np.float32)}
        if self.uses_grid:
            feed["grid"] = np.ascontiguousarray(grid, dtype=np.float32)
        return tuple(self.init_session.run(None, feed))

    def attention(self, state: State) -> np.ndarray:
        """(N, L) weights over the grid cells used for the latest step."""
        if self.attention_index is None:
            raise ValueError("this decoder has no attention")
        return state[self.attention_index]


class OnnxLanguageModel(_OnnxStep):
    uses_grid = False

    def __init__(self, model_path: str | Path, digest: str | None = None, threads: int | None = None,
                 folder: Path | None = None, providers: list[str] | None = None, file_name: str = "lm.onnx"):
        super().__init__((folder or onnx_folder(model_path)) / file_name, model_path, digest, threads, providers)
        self.hidden_dim = self.meta["hidden_dim"]

    def init_state(self, batch: int) -> State:
        zeros = np.zeros((batch, self.hidden_dim), dtype=np.float32)  # (B, H)
        return zeros, zeros.copy()
