"""The decoder and language model in ONNX Runtime: the same numbers and captions as PyTorch, clear errors."""

import shutil

import numpy as np
import pytest

from captioner.training.networks.torch_runner import TorchRunner
from captioner.errors import CaptionerError
from captioner.runtime.model.files import resolve_model
from captioner.training.bundle import load_bundle
from captioner.runtime.model.files import bundle_digest, onnx_folder
from captioner.runtime.model.runners import OnnxDecoder, OnnxLanguageModel, load_runners


@pytest.fixture(scope="module")
def default():
    path = resolve_model("default")
    return path, load_bundle(path)


@pytest.fixture(scope="module")
def float32_folder(default, tmp_path_factory):
    from captioner.export.onnx_export import export_bundle

    path, bundle = default
    return export_bundle(bundle, bundle_digest(path), tmp_path_factory.mktemp("fp32") / "default.onnx", "float32")


@pytest.fixture(scope="module")
def float32_export(default, float32_folder):
    path, _ = default
    return load_runners(path, bundle_digest(path), True, folder=float32_folder)


def _replay(runners, bundle, atol: float, frequent_atol: float | None = None):
    """Three steps of decoder and language model from the same state, against PyTorch's
    (frequent_atol: a tighter bound for the most frequent words, float32 in the int8 export)."""
    from captioner.export.onnx_export import FLOAT_WORDS

    onnx_dec, onnx_lm = runners
    torch_dec, torch_lm = TorchRunner(bundle.decoder), TorchRunner(bundle.language_model)
    rng = np.random.default_rng(0)
    pooled, grid = rng.random((3, 1280), np.float32), rng.random((3, 81, 1280), np.float32)
    a, b = torch_dec.init_state(pooled, grid), onnx_dec.init_state(pooled, grid)
    lm_a, lm_b = torch_lm.init_state(3), onnx_lm.init_state(3)
    for tokens in ([1, 1, 1], [5, 40, 7], [9, 9, 300]):
        tokens = np.array(tokens)
        (la, a), (lb, b) = torch_dec.step(tokens, a), onnx_dec.step(tokens, b)
        np.testing.assert_allclose(la, lb, atol=atol)
        if frequent_atol is not None:
            np.testing.assert_allclose(la[:, :FLOAT_WORDS], lb[:, :FLOAT_WORDS], atol=frequent_atol)
        assert (la.argmax(1) == lb.argmax(1)).all()
        np.testing.assert_allclose(torch_dec.attention(a), onnx_dec.attention(b), atol=atol / 10)
        (la, lm_a), (lb, lm_b) = torch_lm.step(tokens, lm_a), onnx_lm.step(tokens, lm_b)
        np.testing.assert_allclose(la, lb, atol=atol)
        if frequent_atol is not None:
            np.testing.assert_allclose(la[:, :FLOAT_WORDS], lb[:, :FLOAT_WORDS], atol=frequent_atol)
    assert b[2] is not None and onnx_dec.step(np.array([1, 1, 1]), b)[1][2] is b[2]  # the grid passes through


def test_a_float32_export_gives_the_pytorch_decoders_numbers(default, float32_export):
    _replay(float32_export, default[1], atol=1e-4)


def test_the_shipped_int8_export_stays_within_its_rounding(default):
    import json

    import onnx

    from captioner.runtime.model.runners import META_KEY

    path, bundle = default
    props = {p.key: p.value for p in onnx.load(str(onnx_folder(path) / "step.onnx")).metadata_props}
    meta = json.loads(props[META_KEY])
    assert meta["precision"] == "int8"
    # measured at most: 0.065 over the whole vocabulary, 0.037 on the most frequent (float32) words
    _replay(load_runners(path, bundle_digest(path), True), bundle, atol=0.1, frequent_atol=0.05)


def test_captions_match_the_pytorch_path(shipped_captioner, float32_export, flickr_images, coco_dev):
    from captioner.runtime.data.images import load_image
    from captioner.runtime.search import SearchConfig
    from captioner.runtime.search.captions import caption_features, to_text
    from captioner.export.loading import load_captioner

    routes = shipped_captioner.decoder.routes  # the default's everyday photos have a decoder of their own
    assert type(shipped_captioner.decoder.main).__name__ == "OnnxDecoder" == type(routes[1]).__name__  # the default backend
    torch_path = load_captioner(backend="torch")
    images = [load_image(p) for p in flickr_images[:3]] + [load_image(p) for p in sorted(coco_dev.glob("images/*.jpg"))[:3]]
    # the encoder differs (ONNX Runtime vs PyTorch trunk), so the features are handed to every decoder alike
    pixels = np.stack([shipped_captioner.encoder.preprocess(img) for img in images])
    pooled, grid = shipped_captioner.encoder.encode(pixels)
    vocab, size = shipped_captioner.bundle.vocab, shipped_captioner.bundle.trained_size
    differ = 0
    for search in (SearchConfig(beam_size=1), SearchConfig(beam_size=3)):
        def captions(decoder, sources=None):
            return [to_text(vocab, h[0]) for h in caption_features(decoder, vocab, pooled, grid, search, trained_size=size,
                                                                    sources=sources)]

        want = captions(torch_path.decoder)
        assert captions(float32_export[0]) == want  # float32: the very captions
        differ += sum(a != b for a, b in zip(captions(shipped_captioner.decoder), want))
        everyday = [0, 1, 0, 1, 1, 1]
        want_routed = captions(torch_path.decoder, everyday)
        assert want_routed != want  # the everyday decoder writes its own captions
        differ += sum(a != b for a, b in zip(captions(shipped_captioner.decoder, everyday), want_routed))
    assert differ <= 3  # int8 (shipped): 2-3% of captions differ on 1,000 photos (README); here 24 captions


def test_a_missing_stale_or_corrupt_export_is_a_one_line_error(default, tmp_path):
    path, _ = default
    model = tmp_path / "mine.pt"
    shutil.copy(path, model)
    with pytest.raises(CaptionerError, match=r"step.onnx: ONNX file missing; rebuild it with `captioner export-onnx"):
        OnnxDecoder(model)
    shutil.copytree(onnx_folder(path), onnx_folder(model))
    OnnxDecoder(model, bundle_digest(model))  # a copy of the same weights is fine
    with open(model, "ab") as handle:
        handle.write(b"\0")  # the bundle changed after the export
    with pytest.raises(CaptionerError, match="exported from another version"):
        OnnxDecoder(model, bundle_digest(model))
    (onnx_folder(model) / "lm.onnx").write_bytes(b"not a model")
    with pytest.raises(CaptionerError) as caught:
        OnnxLanguageModel(model)
    message = str(caught.value)
    assert "lm.onnx: not a valid captioner ONNX file" in message and "export-onnx" in message and "\n" not in message


def test_other_models_are_exported_once_into_the_cache(tmp_path, monkeypatch, flickr_images):
    from captioner.runtime.data.images import load_image
    from captioner.export.loading import load_captioner

    monkeypatch.setenv("CAPTIONER_CACHE_HOME", str(tmp_path / "cache"))
    captioner = load_captioner("lite2-add", grounding=False)
    exported = list((tmp_path / "cache" / "onnx" / "decoders").glob("*/step.onnx"))
    assert len(exported) == 1 and type(captioner.decoder).__name__ == "OnnxDecoder"
    first = exported[0].stat().st_mtime_ns
    again = load_captioner("lite2-add", grounding=False)
    assert exported[0].stat().st_mtime_ns == first  # reused, not exported again
    [result] = again.caption([load_image(flickr_images[0])])
    assert result.caption


def test_a_damaged_encoder_export_or_bundle_json_is_a_one_line_error(default, tmp_path):
    from captioner.export.loading import load_captioner

    path, _ = default
    model = tmp_path / "copy.pt"
    shutil.copy(path, model)
    shutil.copytree(onnx_folder(path), onnx_folder(model))
    assert type(load_captioner(str(model), grounding=False).encoder).__name__ == "ExportedEncoder"
    (onnx_folder(model) / "encoder.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(CaptionerError, match=r"encoder.onnx: not a valid captioner ONNX file.*export-onnx"):
        load_captioner(str(model), grounding=False)
    (onnx_folder(model) / "bundle.json").write_text("{not json")
    with pytest.raises(CaptionerError, match=r"bundle.json: damaged .*export-onnx"):
        load_captioner(str(model), grounding=False)


def test_step_graphs_spin_between_their_operators_and_stop_after_each_run(default):
    """Decoder and language model run step after step: their threads spin within a run (measured
    faster) but stop at its end, so they never compete with the encoder; the encoder never spins."""
    from captioner.runtime.model.exported import ExportedEncoder

    path, _ = default
    decoder, lm = load_runners(path, bundle_digest(path), True)

    def spins(session):
        options = session.get_session_options()
        return [options.get_session_config_entry(key) for key in
                ("session.intra_op.allow_spinning", "session.force_spinning_stop")]

    for session in (decoder.session, decoder.init_session, lm.session):
        assert spins(session) == ["1", "1"]
    encoder = ExportedEncoder(onnx_folder(path), path)
    assert encoder.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _weights(model) -> dict:
    """name -> float32 array of every constant matrix, including those stored as float16 behind a Cast."""
    from onnx import numpy_helper

    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.input[0] in arrays:
            arrays[node.output[0]] = arrays[node.input[0]].astype(np.float32)
    return arrays


def _unhalved(model):
    """The graph with its float16-stored weights back as float32 initializers (as exported by torch)."""
    from onnx import numpy_helper

    arrays = _weights(model)
    casts = [n for n in model.graph.node if n.op_type == "Cast" and n.input[0] in arrays]
    for node in casts:
        model.graph.node.remove(node)
        model.graph.initializer.append(numpy_helper.from_array(arrays[node.output[0]], node.output[0]))
    return model


def _same_outputs(path, rewritten):
    """Both graphs give the same outputs (to 1e-5) on random tokens and state parts of 4 rows."""
    from captioner.runtime.encoders.onnx_runtime import ort_session

    whole, other = ort_session(path), ort_session(rewritten)
    rng = np.random.default_rng(0)
    feed = {}
    for spec in whole.get_inputs():
        shape = [4 if not isinstance(d, int) else d for d in spec.shape]
        feed[spec.name] = (rng.integers(3, 2000, size=shape) if spec.name == "tokens"
                           else rng.standard_normal(shape).astype(np.float32))
    for a, b in zip(whole.run(None, feed), other.run(None, feed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("graph", ["step.onnx", "lm.onnx"])
def test_the_output_layer_split_in_two_gives_the_same_log_probabilities(float32_folder, graph):
    """The int8 export keeps the most frequent words' output columns float32 and quantises the rest:
    before quantising, the split product must be the same layer."""
    import onnx

    from captioner.export.onnx_export import _gemm_as_matmul, _split_output_layer

    path = float32_folder / graph
    model = _gemm_as_matmul(_unhalved(onnx.load(str(path))))
    vocab = len(load_bundle(resolve_model("default")).vocab)
    head = _split_output_layer(model, 100)
    products, arrays = {n.name: n for n in model.graph.node}, _weights(model)
    tail = products[head.removesuffix("_head") + "_tail"]
    assert arrays[products[head].input[1]].shape[1] == 100 and arrays[tail.input[1]].shape[1] == vocab - 100
    split_path = path.with_name("split-" + graph)
    onnx.save(model, str(split_path))
    _same_outputs(path, split_path)
    assert _split_output_layer(_gemm_as_matmul(_unhalved(onnx.load(str(path)))), vocab) is None  # nothing to split


def test_the_shipped_int8_export_keeps_the_most_frequent_words_float32(default):
    import onnx

    from captioner.export.onnx_export import FLOAT_WORDS

    path, bundle = default
    for graph in ("step.onnx", "lm.onnx"):
        model = onnx.load(str(onnx_folder(path) / graph))
        [head] = [n for n in model.graph.node if n.op_type == "MatMul" and n.name.endswith("_head")]
        assert _weights(model)[head.input[1]].shape[1] == FLOAT_WORDS
        assert any(n.op_type == "MatMulNBits" and n.name.endswith("_tail_Q8") for n in model.graph.node)


def test_products_of_the_same_input_merged_into_one_give_the_same_step(float32_folder):
    """The int8 export merges the constant products reading one input (the attention step's hidden
    state feeds the attention query, the context gate and the LSTM): the same numbers, one product."""
    import onnx

    from captioner.export.onnx_export import _gemm_as_matmul, _merge_sibling_products

    path = float32_folder / "step.onnx"
    model = _gemm_as_matmul(_unhalved(onnx.load(str(path))))
    arrays = _weights(model)
    before = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[0] == "state0" and n.input[1] in arrays]
    assert len(before) == 3
    merged = _merge_sibling_products(model)
    [product] = [n for n in merged.graph.node if n.op_type == "MatMul" and n.input[0] == "state0"]
    assert _weights(merged)[product.input[1]].shape == (512, sum(arrays[n.input[1]].shape[1] for n in before))
    merged_path = path.with_name("merged-step.onnx")
    onnx.save(merged, str(merged_path))
    _same_outputs(path, merged_path)


def test_the_shipped_int8_step_reads_the_hidden_state_once_and_scores_attention_in_float32(default):
    import onnx

    from captioner.export.onnx_export import NARROW

    path, _ = default
    model = onnx.load(str(onnx_folder(path) / "step.onnx"))
    readers = [n for n in model.graph.node if "state0" in n.input]
    assert [n.op_type for n in readers] == ["MatMulNBits"]  # one int8 product for the three
    arrays = _weights(model)
    narrow = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in arrays
              and arrays[n.input[1]].shape[-1] < NARROW]
    assert len(narrow) == 1 and arrays[narrow[0].input[1]].shape == (256, 1)  # the attention score stays float32


def test_one_images_beams_share_its_grid_and_get_the_captions_of_a_copied_grid(flickr_images):
    """For a single image the search hands the step graph its grid and grid projection once, not
    once per beam row: the graph broadcasts them, to the same captions."""
    from captioner.runtime.data.images import load_image
    from captioner.runtime.search import SearchConfig
    from captioner.runtime.search.engine import beam_search, broadcasting, broadcasts
    from captioner.export.loading import load_captioner

    captioner = load_captioner(grounding=False)
    decoder = captioner.decoder.main  # the Flickr8k decoder; the everyday one is the same graph
    assert broadcasts(decoder.step)
    vocab = captioner.bundle.vocab
    rows = []

    def copied(tokens, state):  # the same graph, not marked: search copies the grid to every row
        rows.append(len(state[2]))
        return decoder.step(tokens, state)

    @broadcasting
    def shared(tokens, state):
        rows.append(len(state[2]))
        return decoder.step(tokens, state)

    never = (vocab.pad_id, vocab.bos_id, vocab.unk_id)
    for image in flickr_images[:3]:
        pixels = np.stack([captioner.encoder.preprocess(load_image(image))])
        pooled, grid = captioner.encoder.encode(pixels)
        start = decoder.init_state(pooled, grid)
        rows.clear()
        [want] = beam_search(copied, start, vocab.bos_id, vocab.eos_id, SearchConfig(beam_size=3), never)
        assert rows[0] == 1 and set(rows[1:]) == {3}
        rows.clear()
        [got] = beam_search(shared, start, vocab.bos_id, vocab.eos_id, SearchConfig(beam_size=3), never)
        assert set(rows) == {1}  # never copied
        assert [h.tokens for h in got] == [h.tokens for h in want]
        # the int8 products round a broadcast row and copied rows a little apart: 1e-4 of a caption's log-probability
        np.testing.assert_allclose([h.log_prob for h in got], [h.log_prob for h in want], rtol=2e-4, atol=1e-3)


def test_the_runtime_loads_only_from_an_export_and_says_how_to_make_one(tmp_path, monkeypatch):
    from captioner.runtime.model.captioner import Captioner
    from captioner.runtime.model.files import resolve_files
    from captioner.settings import SHIPPED_DIR

    monkeypatch.setenv("CAPTIONER_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "lite2-add.pt"
    model.write_bytes((SHIPPED_DIR / "lite2-add.pt").read_bytes())  # no export beside it, none in this cache
    with pytest.raises(CaptionerError, match=r"has no ONNX export here; .*captioner export-onnx --model"):
        Captioner.load(resolve_files(model))


def test_the_shipped_background_model_is_exported_and_fused_by_default(default, shipped_captioner):
    from captioner.runtime.grounding.grounding import GroundingConfig
    from captioner.runtime.model.runners import load_background
    from captioner.runtime.search.fusion import DensityRatio

    path, bundle = default
    assert bundle.background_lm is not None and bundle.info["background_lm"]["texts"].endswith(".json")
    exported = load_background(path, bundle_digest(path))
    torch_background = TorchRunner(bundle.background_lm)
    tokens = np.array([1, 5, 40])
    a, b = torch_background.init_state(3), exported.init_state(3)
    for _ in range(3):
        want, a = torch_background.step(tokens, a)
        got, b = exported.step(tokens, b)
        assert np.abs(got - want).max() < 0.1  # int8 step graphs: the fusion language model's bound (above)
        tokens = want.argmax(axis=1)
    fusion = shipped_captioner.fusion_lm
    assert isinstance(fusion, DensityRatio) and fusion.beta == GroundingConfig().lm_background_weight > 0
