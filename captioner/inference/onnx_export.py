"""Export a model bundle's decoder (init + one step) and language model (one step) to ONNX.

Run once per model (`captioner export-onnx`, done by scripts/ship_model.py for shipped models);
inference then runs them in ONNX Runtime with the numpy search (inference/onnx_decoder.py),
without torch. The files go to a folder beside the bundle, `<model>.onnx/`:

  init.onnx   pooled (B, D) [, grid (B, L, D)] -> the decoder's initial state parts
  step.onnx   tokens (B,), state parts -> log_probs (B, V), the state parts the step changes
  lm.onnx     tokens (B,), h, c -> log_probs (B, V), h, c            (when the bundle has an LM)

State parts the step hands back untouched (the attention grid and its projection) are inputs of
step.onnx but not outputs: the runner passes the same arrays on, as the PyTorch decoder does.
Weight matrices are stored as float16 (the bundle's own precision, so nothing is rounded) and
cast to float32 once when ONNX Runtime loads them. Each file records the SHA-256 of the bundle
it was made from, so a stale export is never used.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from captioner.atomic import atomic_path
from captioner.inference.bundle import ModelBundle
from captioner.inference.onnx_decoder import bundle_digest  # noqa: F401 - re-exported for ship scripts

OPSET = 17
META_KEY = "captioner"


class _Init(torch.nn.Module):
    def __init__(self, decoder, with_grid: bool):
        super().__init__()
        self.decoder, self.with_grid = decoder, with_grid

    def forward(self, pooled, grid=None):
        return tuple(self.decoder.init_state(pooled, grid if self.with_grid else None))


class _Step(torch.nn.Module):
    def __init__(self, model, changed: list[int]):
        super().__init__()
        self.model, self.changed = model, changed

    def forward(self, tokens, *state):
        log_probs, new = self.model.step(tokens, tuple(state))
        return (log_probs,) + tuple(new[i] for i in self.changed)


def _half_weights(model: onnx.ModelProto, min_size: int = 1024) -> onnx.ModelProto:
    """Store large float32 initializers as float16, each behind a Cast back to float32."""
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_size:
            continue
        array = numpy_helper.to_array(init)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(array.astype(np.float16), name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=name + "__cast"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def _export(module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str], batch_axes: dict,
            path: Path, meta: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(module.eval(), args, str(raw), input_names=inputs, output_names=outputs,
                          dynamic_axes=batch_axes, opset_version=OPSET, dynamo=False)
        model = _half_weights(onnx.load(str(raw)))
    onnx.helper.set_model_props(model, {META_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp_path:
        onnx.save(model, str(tmp_path))


def export_bundle(bundle: ModelBundle, digest: str, folder: str | Path) -> Path:
    """Write init.onnx, step.onnx (and lm.onnx) for this bundle into `folder`; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    decoder = bundle.decoder.eval()
    config = decoder.config
    batch = 2
    pooled = torch.randn(batch, config.feature_dim)  # (B, D)
    cells = bundle.encoder.get("grid_size", 9) ** 2
    grid = torch.randn(batch, cells, config.feature_dim) if config.uses_grid else None  # (B, L, D)
    with torch.no_grad():
        state = tuple(decoder.init_state(pooled, grid))
        tokens = torch.full((batch,), 1, dtype=torch.long)  # (B,)
        _, new = decoder.step(tokens, state)
        changed = [i for i, (a, b) in enumerate(zip(new, state)) if a is not b]
        attention = None
        if config.uses_grid:
            alpha = decoder.attention(new)
            attention = next(i for i, part in enumerate(new) if part is alpha)
    parts = [f"state{i}" for i in range(len(state))]
    meta = {"bundle_sha256": digest, "state_parts": len(state), "changed": changed, "attention": attention,
            "uses_grid": config.uses_grid, "vocab_size": config.vocab_size, "feature_dim": config.feature_dim}
    axes = {name: {0: "batch"} for name in ["pooled", "grid", "tokens", "log_probs", *parts,
                                             *[f"new_state{i}" for i in changed]]}
    init_inputs = ["pooled", "grid"] if config.uses_grid else ["pooled"]
    _export(_Init(decoder, config.uses_grid), (pooled, grid) if config.uses_grid else (pooled,), init_inputs, parts,
            axes, folder / "init.onnx", meta)
    _export(_Step(decoder, changed), (tokens, *state), ["tokens", *parts],
            ["log_probs", *[f"new_state{i}" for i in changed]], axes, folder / "step.onnx", meta)
    lm_path = folder / "lm.onnx"
    if bundle.language_model is not None:
        lm = bundle.language_model.eval()
        lm_state = lm.init_state(batch)
        lm_meta = {"bundle_sha256": digest, "state_parts": 2, "changed": [0, 1], "hidden_dim": lm.config.hidden_dim,
                   "vocab_size": lm.config.vocab_size}
        _export(_Step(lm, [0, 1]), (tokens, *lm_state), ["tokens", "state0", "state1"],
                ["log_probs", "new_state0", "new_state1"], axes, lm_path, lm_meta)
    elif lm_path.exists():
        lm_path.unlink()
    return folder
