"""Export a model bundle's decoder (init + one step) and language model (one step) to ONNX.

Run once per model (`captioner export-onnx`, done by scripts/ship_model.py for shipped models);
inference then runs them in ONNX Runtime with the numpy search (inference/onnx_decoder.py),
without torch. The files go to a folder beside the bundle, `<model>.onnx/`:

  init.onnx   pooled (B, D) [, grid (B, L, D)] -> the decoder's initial state parts
  step.onnx   tokens (B,), state parts -> log_probs (B, V), the state parts the step changes
  lm.onnx     tokens (B,), h, c -> log_probs (B, V), h, c            (when the bundle has an LM)
  encoder.onnx  uint8 pixels (B, H, W, 3) -> pooled (B, D), grid (B, L, D), ImageNet probabilities
               (B, 1000): the trunk with its input scaling, pooling and head (when it can be exported)
  encoder.npz   the ImageNet head alone, for grounding features computed elsewhere
  bundle.json  vocabulary, encoder description and scaling, scores: all that inference reads

State parts the step hands back untouched (the attention grid and its projection) are inputs of
step.onnx but not outputs: the runner passes the same arrays on, as the PyTorch decoder does.

Precision of the step graphs: "float32" computes exactly as PyTorch does; "int8" stores the
weight matrices of the step graphs as 8-bit integers with one float scale per block of 128 weights
(ONNX Runtime's weight-only MatMulNBits, the kind used for LLM decoding on CPUs: activations stay
float32 between the matrix products) and multiplies with int8 arithmetic (accuracy level 4); the
output layer keeps the columns of the most frequent words (FLOAT_WORDS; the vocabulary is in
frequency order) in float32 and the rest in int8: a step streams about a quarter of the bytes.
Products of the same input are merged into one first (the attention step's hidden state feeds
three), and products with fewer than NARROW output columns (the attention score) stay float32.
The shipped default
model's export is int8 (scripts/ship_model.py); the README gives its captions against float32's
(`captioner evaluate --backend onnx` vs `--backend torch`, then scripts/compare_captions.py).
Decoder weights that float16 holds exactly (all of them, for a float16 bundle) are stored as float16
and cast to float32 once at load; the encoder's trunk is stored as float16 (see the README for its
effect).
Each file records the SHA-256 of the bundle it was made from, so a stale export is never used.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from captioner.atomic import atomic_path, write_json
from captioner.runtime.encoders.base import RANDOM_WEIGHTS
from captioner.training.bundle import ModelBundle, load_bundle
from captioner.training.encoders import create_encoder
from captioner.runtime.model.exported import EXPORT_FORMAT
from captioner.runtime.model.files import bundle_digest, onnx_folder, source_suffix
from captioner.runtime.model.runners import META_KEY

OPSET = 17
PRECISIONS = ("float32", "int8")


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


def _half_weights(model: onnx.ModelProto, exact: bool = True, min_size: int = 1024) -> onnx.ModelProto:
    """Store large float32 initializers as float16, each behind a Cast back to float32.

    exact: only those float16 holds without rounding (a float16 bundle's weights all are)."""
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_size:
            continue
        array = numpy_helper.to_array(init)
        if exact and not np.array_equal(array.astype(np.float16).astype(np.float32), array):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(array.astype(np.float16), name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=name + "__cast"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


INT8_BLOCK = 128  # weights sharing one scale in the int8 export (32: 98.2% of val captions kept, slower for batches)


def _set_nodes(graph: onnx.GraphProto, nodes: list) -> None:
    """Give the graph these nodes, and drop the initializers no node reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _gemm_as_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Gemm(x, W, b, transB=1) with a constant W -> MatMul(x, W^T) + b: the form weight-only
    quantisation rewrites (torch exports nn.Linear on 2-D inputs as Gemm)."""
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("transB") == 1 and not attrs.get("transA") and attrs.get("alpha", 1.0) == attrs.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or node.input[1] not in weights or not plain:
            nodes.append(node)
            continue
        name = node.input[1] + "__t"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(weights[node.input[1]]).T), name))
        product = node.output[0] + "__matmul" if len(node.input) > 2 and node.input[2] else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=node.name + "_matmul"))
        if product != node.output[0]:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=node.name + "_bias"))
    _set_nodes(graph, nodes)
    return model


FLOAT_WORDS = 256  # output-layer columns kept float32 in the int8 export: the most frequent words


def _output_layer(model: onnx.ModelProto) -> str | None:
    """The name of the matrix product that makes the logits (the MatMul behind LogSoftmax's input)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    node = next((n for n in model.graph.node if n.op_type == "LogSoftmax"), None)
    while node is not None and node.op_type != "MatMul":
        node = producers.get(node.input[0]) if node.op_type in ("LogSoftmax", "Add", "Identity") else None
    return node.name if node is not None else None


def _split_output_layer(model: onnx.ModelProto, columns: int) -> str | None:
    """Make the output layer x @ W (W constant, (H, V)) two products, x @ W[:, :columns] and
    x @ W[:, columns:], concatenated: the same logits, and the two halves can be stored apart.
    Returns the first product's name (None when there is no output layer or nothing to split)."""
    name = _output_layer(model)
    graph = model.graph
    node = next((n for n in graph.node if n.name == name), None)
    weights = {init.name: init for init in graph.initializer}
    if node is None or node.input[1] not in weights:
        return None
    matrix = numpy_helper.to_array(weights[node.input[1]])  # (H, V)
    if not 0 < columns < matrix.shape[1]:
        return None
    x, w, y = node.input[0], node.input[1], node.output[0]
    graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(matrix[:, :columns]), w + "__head"),
                              numpy_helper.from_array(np.ascontiguousarray(matrix[:, columns:]), w + "__tail")])
    split = [helper.make_node("MatMul", [x, w + "__head"], [y + "__head"], name=name + "_head"),  # (B, columns)
             helper.make_node("MatMul", [x, w + "__tail"], [y + "__tail"], name=name + "_tail"),  # (B, V - columns)
             helper.make_node("Concat", [y + "__head", y + "__tail"], [y], axis=-1, name=name + "_concat")]  # (B, V)
    _set_nodes(graph, [part for n in graph.node for part in (split if n is node else [n])])  # drops W
    return name + "_head"


def _merge_sibling_products(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant matrix products of the same input (x @ W1, x @ W2, ...; each with its constant bias
    Add, if all have one) -> one product x @ [W1 W2 ...] (+ [b1 b2 ...]) and a Split: the same
    numbers in one pass over x. In the attention step the hidden state feeds three (the attention
    query, the context gate and the LSTM's recurrent gates)."""
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    groups: dict[str, list] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights and len(weights[node.input[1]].dims) == 2:
            groups.setdefault(node.input[0], []).append(node)
    nodes = list(graph.node)
    for x, members in groups.items():
        matrices = [numpy_helper.to_array(weights[m.input[1]]) for m in members]  # (K, N_i) each
        if len(members) < 2 or len({w.shape[0] for w in matrices}) != 1:
            continue
        adds = []  # each product's bias Add, when that is its only user
        for m in members:
            users = consumers.get(m.output[0], [])
            only = users[0] if len(users) == 1 and users[0].op_type == "Add" else None
            adds.append(only if only is not None and sum(name in weights for name in only.input) == 1 else None)
        with_bias = all(a is not None for a in adds)
        name = members[0].name + "_merged"
        graph.initializer.append(numpy_helper.from_array(np.concatenate(matrices, axis=1), name + "_weight"))  # (K, sum N_i)
        graph.initializer.append(numpy_helper.from_array(np.array([w.shape[1] for w in matrices], np.int64), name + "_sizes"))
        merged = [helper.make_node("MatMul", [x, name + "_weight"], [name + "_out"], name=name)]
        source, outputs, gone = name + "_out", [m.output[0] for m in members], list(members)
        if with_bias:
            biases = [numpy_helper.to_array(weights[next(i for i in a.input if i in weights)]).reshape(-1) for a in adds]
            graph.initializer.append(numpy_helper.from_array(np.concatenate(biases).astype(np.float32), name + "_bias"))
            merged.append(helper.make_node("Add", [source, name + "_bias"], [name + "_biased"], name=name + "_bias"))
            source, outputs, gone = name + "_biased", [a.output[0] for a in adds], gone + adds
        merged.append(helper.make_node("Split", [source, name + "_sizes"], outputs, axis=-1, name=name + "_split"))
        gone_ids = {id(n) for n in gone}
        first = min(i for i, n in enumerate(nodes) if id(n) in gone_ids)
        nodes = [n for n in nodes[:first] if id(n) not in gone_ids] + merged + [n for n in nodes[first:] if id(n) not in gone_ids]
    _set_nodes(graph, nodes)
    return model


NARROW = 16  # products with fewer output columns than this (the attention score) stay float32


def _int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weight-only 8-bit blockwise quantisation (MatMulNBits) of every constant matrix product but the
    output layer's float32 columns for the FLOAT_WORDS most frequent words. Chosen on Flickr8k val
    (beam / greedy captions identical to float32's): the whole output layer float32 97.8% / 97.6%,
    256 words float32 97.7% / 97.4% with a 22% faster step (one row), all int8 97.0% / 96.6%."""
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(block_size=INT8_BLOCK, is_symmetric=True, bits=8, accuracy_level=4)
    model = _merge_sibling_products(_gemm_as_matmul(model))
    head = _split_output_layer(model, FLOAT_WORDS)
    weights = {init.name: init for init in model.graph.initializer}
    narrow = [n.name for n in model.graph.node
              if n.op_type == "MatMul" and n.input[1] in weights and weights[n.input[1]].dims[-1] < NARROW]
    quantizer = MatMulNBitsQuantizer(model, algo_config=config, nodes_to_exclude=([head] if head else []) + narrow)
    quiet = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # it logs every node at INFO
    try:
        quantizer.process()
    finally:
        quiet.setLevel(level)
    return quantizer.model.model


def _export(module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str], batch_axes: dict,
            path: Path, meta: dict, precision: str = "float32", exact: bool | None = None) -> None:
    """exact: float32 weights go float16 only where that is exact (default: unless `precision` is int8)."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(module.eval(), args, str(raw), input_names=inputs, output_names=outputs,
                          dynamic_axes=batch_axes, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(raw))
        if precision == "int8":
            model = _int8_weights(model)
        # what is left in float32 (the embedding table, biases) as float16: exactly (a float16 bundle's
        # weights all are); in an int8 export rounded too (an int8 bundle's are not), 2**-11 of a weight
        # being far under the int8 rounding itself (1/254 of its row's largest)
        model = _half_weights(model, exact=precision != "int8" if exact is None else exact)
    onnx.helper.set_model_props(model, {META_KEY: json.dumps({**meta, "precision": precision})})
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp_path:
        onnx.save(model, str(tmp_path))


class _EncoderGraph(torch.nn.Module):
    """uint8 RGB (B, H, W, 3) -> pooled (B, D), grid (B, g*g, D) [, ImageNet probabilities (B, 1000)]:
    the trunk with what numpy did around it (scaling, channel order, cell layout, pooling) and the
    classifier head that grounding reads, so one run gives all and the caller only resizes."""

    def __init__(self, trunk: torch.nn.Module, affine: tuple[float, float], head=None):
        super().__init__()
        self.trunk, (self.offset, self.divisor) = trunk, affine
        self.head = None
        if head is not None:
            self.head = torch.nn.Linear(head[0].shape[1], head[0].shape[0])
            self.head.weight.data, self.head.bias.data = torch.as_tensor(head[0]), torch.as_tensor(head[1])

    def forward(self, pixels):
        scaled = (pixels.float() - self.offset) / self.divisor  # (B, H, W, 3), as Encoder.scale does
        grid = self.trunk(scaled.permute(0, 3, 1, 2))  # (B, D, g, g)
        cells = grid.flatten(2).transpose(1, 2)  # (B, g*g, D)
        pooled = cells.mean(1)  # (B, D)
        if self.head is None:
            return pooled, cells
        return pooled, cells, torch.softmax(self.head(pooled), dim=1)  # (B, 1000)


def export_encoder(encoder, digest: str, folder: Path) -> bool:
    """encoder.onnx (an _EncoderGraph: uint8 pixels in, float16-stored weights) and encoder.npz
    (the ImageNet head, for grounding cached features) for an encoder with an exportable trunk and
    an affine input scaling; False (nothing written) otherwise."""
    if not (hasattr(encoder, "trunk") and hasattr(encoder, "affine")):
        return False
    head = encoder.classifier()
    graph = _EncoderGraph(encoder.trunk().eval(), encoder.affine, head)
    sample = torch.zeros(1, encoder.input_size, encoder.input_size, 3, dtype=torch.uint8)  # (1, H, W, 3)
    outputs = ["pooled", "grid"] + (["probs"] if head is not None else [])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "encoder.onnx"
        torch.onnx.export(graph, (sample,), str(raw), input_names=["pixels"], output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in ["pixels", *outputs]}, opset_version=OPSET,
                          dynamo=False)
        model = _half_weights(onnx.load(str(raw)), exact=False)
    onnx.helper.set_model_props(model, {META_KEY: json.dumps({"bundle_sha256": digest, **encoder.describe(),
                                                              "affine": list(encoder.affine), "input": "uint8"})})
    with atomic_path(folder / "encoder.onnx") as tmp_path:
        onnx.save(model, str(tmp_path))
    with atomic_path(folder / "encoder.npz") as tmp_path:
        with open(tmp_path, "wb") as handle:
            if head is None:
                np.savez(handle)
            else:
                np.savez(handle, weight=head[0].astype(np.float16), bias=head[1].astype(np.float32))
    return True


def same_initial_state(decoder, other, cells: int) -> bool:
    """Whether two decoders start every caption alike (a fine-tune that kept the initial state's layers):
    then one init graph serves both."""
    if type(decoder) is not type(other) or decoder.config.feature_dim != other.config.feature_dim:
        return False
    generator = torch.Generator().manual_seed(0)
    pooled = torch.randn(3, decoder.config.feature_dim, generator=generator)  # (B, D)
    grid = torch.randn(3, cells, decoder.config.feature_dim, generator=generator) if decoder.uses_grid else None  # (B, L, D)
    with torch.no_grad():
        mine, theirs = decoder.eval().init_state(pooled, grid), other.eval().init_state(pooled, grid)
    return len(mine) == len(theirs) and all(torch.equal(a, b) for a, b in zip(mine, theirs))


def shared_init(bundle: ModelBundle) -> list[int]:
    """The caption sources whose decoders start captions as the main one does: the export serves them
    from the main decoder's init.onnx."""
    cells = bundle.encoder.get("grid_size", 9) ** 2
    return sorted(s for s, other in bundle.source_decoders.items() if same_initial_state(bundle.decoder, other, cells))


def _export_decoder(decoder, digest: str, folder: Path, cells: int, precision: str, suffix: str = "",
                    with_init: bool = True) -> None:
    """init{suffix}.onnx (unless with_init is False: it shares the main decoder's) and step{suffix}.onnx of one decoder."""
    decoder = decoder.eval()
    config = decoder.config
    batch = 2
    pooled = torch.randn(batch, config.feature_dim)  # (B, D)
    grid = torch.randn(batch, cells, config.feature_dim) if decoder.uses_grid else None  # (B, L, D)
    with torch.no_grad():
        state = tuple(decoder.init_state(pooled, grid))
        tokens = torch.full((batch,), 1, dtype=torch.long)  # (B,)
        _, new = decoder.step(tokens, state)
        changed = [i for i, (a, b) in enumerate(zip(new, state)) if a is not b]
        attention = None
        if decoder.uses_grid:
            alpha = decoder.attention(new)
            attention = next(i for i, part in enumerate(new) if part is alpha)
    parts = [f"state{i}" for i in range(len(state))]
    meta = {"bundle_sha256": digest, "state_parts": len(state), "changed": changed, "attention": attention,
            "uses_grid": decoder.uses_grid, "vocab_size": config.vocab_size, "feature_dim": config.feature_dim}
    axes = {name: {0: "batch"} for name in ["pooled", "grid", "tokens", "log_probs", *parts,
                                             *[f"new_state{i}" for i in changed]]}
    init_inputs = ["pooled", "grid"] if decoder.uses_grid else ["pooled"]
    if with_init:
        _export(_Init(decoder, decoder.uses_grid), (pooled, grid) if decoder.uses_grid else (pooled,), init_inputs, parts,
                axes, folder / f"init{suffix}.onnx", meta, exact=precision != "int8")
    _export(_Step(decoder, changed), (tokens, *state), ["tokens", *parts],
            ["log_probs", *[f"new_state{i}" for i in changed]], axes, folder / f"step{suffix}.onnx", meta, precision)


def export_bundle(bundle: ModelBundle, digest: str, folder: str | Path, precision: str = "float32",
                  encoder=None) -> Path:
    """Write init.onnx, step.onnx (init-s1.onnx, step-s1.onnx for a source decoder; lm.onnx; and the
    encoder's files when `encoder` is given and exportable) and bundle.json for this bundle into
    `folder`; returns the folder."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cells = bundle.encoder.get("grid_size", 9) ** 2
    _export_decoder(bundle.decoder, digest, folder, cells, precision)
    shared = shared_init(bundle)
    for source, other in bundle.source_decoders.items():
        _export_decoder(other, digest, folder, cells, precision, source_suffix(source), with_init=source not in shared)
    wanted = {folder / f"step{source_suffix(s)}.onnx" for s in bundle.source_decoders}
    wanted |= {folder / f"init{source_suffix(s)}.onnx" for s in bundle.source_decoders if s not in shared}
    for stale in {*folder.glob("init-s*.onnx"), *folder.glob("step-s*.onnx")} - wanted:
        stale.unlink()  # a source decoder the bundle no longer has, or an initial state it now shares
    for lm, lm_path in ((bundle.language_model, folder / "lm.onnx"), (bundle.background_lm, folder / "background_lm.onnx")):
        if lm is not None:
            lm = lm.eval()
            batch = 2
            tokens = torch.full((batch,), 1, dtype=torch.long)  # (B,)
            lm_state = lm.init_state(batch)
            axes = {name: {0: "batch"} for name in ("tokens", "log_probs", "state0", "state1", "new_state0", "new_state1")}
            lm_meta = {"bundle_sha256": digest, "state_parts": 2, "changed": [0, 1], "hidden_dim": lm.config.hidden_dim,
                       "vocab_size": lm.config.vocab_size}
            _export(_Step(lm, [0, 1]), (tokens, *lm_state), ["tokens", "state0", "state1"],
                    ["log_probs", "new_state0", "new_state1"], axes, lm_path, lm_meta, precision)
        elif lm_path.exists():
            lm_path.unlink()
    with_encoder = encoder is not None and export_encoder(encoder, digest, folder)
    write_json(folder / "bundle.json", {
        "format": EXPORT_FORMAT, "bundle_sha256": digest, "vocab": list(bundle.vocab.words),
        "trained_size": bundle.trained_size, "encoder": dict(bundle.encoder), "encoder_exported": bool(with_encoder),
        "decoder_config": asdict(bundle.decoder.config), "source_decoders": sorted(bundle.source_decoders),
        "shared_init": shared,
        "language_model": bundle.language_model is not None,
        "background_lm": bundle.background_lm is not None, "info": bundle.info,
        "source_offsets": None if bundle.source_offsets is None else bundle.source_offsets.tolist()})
    return folder


def export_model(model_path: str | Path, folder: str | Path | None = None, precision: str = "float32") -> Path:
    """Export a model file (decoder, language model and its encoder) to `folder` (default `<model>.onnx/`)."""

    bundle = load_bundle(model_path)
    weights = RANDOM_WEIGHTS if bundle.encoder.get("weights") == RANDOM_WEIGHTS else None
    encoder = create_encoder(bundle.encoder["name"], weights)
    return export_bundle(bundle, bundle_digest(model_path), folder or onnx_folder(model_path), precision, encoder)
