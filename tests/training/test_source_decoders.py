"""Source decoders: a model whose everyday photos have a decoder of their own. Each photo is captioned
by its source's decoder, the same in PyTorch and in the ONNX export, and the bundle file keeps them."""

import json

import numpy as np
import pytest
import torch

from captioner.errors import CaptionerError
from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.runtime.search import Constraints, SearchConfig
from captioner.runtime.search.captions import RoutedDecoder, caption_features, routed
from captioner.training.bundle import ModelBundle, load_bundle, save_bundle
from captioner.training.init import with_initial_state_of
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.torch_runner import TorchRunner, decoder_runner

WORDS = list(SPECIALS) + ["a", "dog", "runs", "on", "grass", "plate", "of", "food", "cat", "sits"]
SEARCH = SearchConfig(beam_size=3, max_length=6)


def _decoder(seed: int, style: str = "attention", vocab_size: int = len(WORDS), feature_dim: int = 6):
    torch.manual_seed(seed)
    config = DecoderConfig(vocab_size=vocab_size, feature_dim=feature_dim, style=style, embed_dim=8, hidden_dim=12,
                           attention_dim=5, dropout=0.0)
    decoder = build_decoder(config).eval()
    with torch.no_grad():  # sharper outputs than the initial ones, so two seeds caption differently
        decoder.out.weight.mul_(8.0)
    return decoder


def _features(n: int = 5):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.normal(size=(n, 4, 6)).astype(np.float32)  # (N, D), (N, L, D)


def _tokens(hyps):
    return [h[0].tokens for h in hyps]


@pytest.mark.parametrize("style", ["attention", "add"])
def test_each_photo_is_captioned_by_its_sources_decoder(style):
    main, everyday = TorchRunner(_decoder(0, style)), TorchRunner(_decoder(1, style))
    vocab = Vocabulary(WORDS)
    pooled, grid = _features()
    alone_main = _tokens(caption_features(main, vocab, pooled, grid, SEARCH))
    alone_everyday = _tokens(caption_features(everyday, vocab, pooled, grid, SEARCH))
    assert alone_main != alone_everyday  # the two decoders differ on these photos
    router = routed(main, {1: everyday})
    sources = [0, 1, 1, 0, 1]
    got = _tokens(caption_features(router, vocab, pooled, grid, SEARCH, sources=sources))
    assert got == [(alone_everyday if s else alone_main)[n] for n, s in enumerate(sources)]
    assert _tokens(caption_features(router, vocab, pooled, grid, SEARCH)) == alone_main  # no sources: all source 0
    assert _tokens(caption_features(router, vocab, pooled, grid, SEARCH, sources=[2] * 5)) == alone_main  # no own decoder
    with pytest.raises(ValueError, match="3 caption sources for 5 images"):
        caption_features(router, vocab, pooled, grid, SEARCH, sources=[0, 1, 0])


def test_constraints_and_fusion_weights_follow_their_photos():
    main, everyday = TorchRunner(_decoder(0)), TorchRunner(_decoder(1))
    vocab = Vocabulary(WORDS)
    pooled, grid = _features(4)
    food = vocab.index["food"]
    constraints = [Constraints((frozenset({food}),), frozenset()) if n in (1, 2) else Constraints((), frozenset())
                   for n in range(4)]
    sources = [0, 1, 0, 1]
    got = caption_features(routed(main, {1: everyday}), vocab, pooled, grid, SEARCH, constraints=constraints, sources=sources)
    for n, source in enumerate(sources):
        runner = everyday if source else main
        alone = caption_features(runner, vocab, pooled[n : n + 1], grid[n : n + 1], SEARCH, constraints=[constraints[n]])
        assert got[n][0].tokens == alone[0][0].tokens
    assert food in got[1][0].tokens and food in got[2][0].tokens  # each photo kept its own required word


def test_routed_decoders_must_agree_on_the_grid():
    with pytest.raises(ValueError, match="grid"):
        RoutedDecoder(TorchRunner(_decoder(0, "attention")), {1: TorchRunner(_decoder(1, "add"))})
    plain = TorchRunner(_decoder(0))
    assert routed(plain, {}) is plain  # a model without source decoders is run as before


def test_the_bundle_keeps_its_source_decoders(tmp_path):
    vocab = Vocabulary(WORDS)
    main, everyday = _decoder(0), _decoder(1)
    path = tmp_path / "m.pt"
    save_bundle(path, ModelBundle(main, vocab, {"name": "toy"}, {}, source_decoders={1: everyday}), source_precision="int8")
    loaded = load_bundle(path)
    assert list(loaded.source_decoders) == [1]
    for key, value in everyday.state_dict().items():  # int8 rows: within a 127th of each row's largest weight
        bound = 1.01 * value.abs().amax(dim=-1, keepdim=True) / 254 + 2e-3 if value.dim() == 2 else 2e-3
        assert ((loaded.source_decoders[1].state_dict()[key] - value).abs() <= bound).all(), key
    pooled, grid = _features()
    runner = decoder_runner(loaded)
    assert isinstance(runner, RoutedDecoder)
    want = caption_features(routed(TorchRunner(loaded.decoder), {1: TorchRunner(loaded.source_decoders[1])}), vocab,
                            pooled, grid, SEARCH, sources=[1, 0, 1, 0, 0])
    assert _tokens(caption_features(runner, vocab, pooled, grid, SEARCH, sources=[1, 0, 1, 0, 0])) == _tokens(want)
    save_bundle(tmp_path / "plain.pt", ModelBundle(main, vocab, {"name": "toy"}, {}))
    plain = load_bundle(tmp_path / "plain.pt")
    assert plain.source_decoders == {} and isinstance(decoder_runner(plain), TorchRunner)


@pytest.mark.parametrize("other, problem", [(lambda: _decoder(1, vocab_size=len(WORDS) + 1), "words"),
                                            (lambda: _decoder(1, feature_dim=7), "features"),
                                            (lambda: _decoder(1, "add"), "grid")])
def test_a_source_decoder_that_cannot_stand_in_is_a_one_line_error(tmp_path, other, problem):
    path = tmp_path / "bad.pt"
    save_bundle(path, ModelBundle(_decoder(0), Vocabulary(WORDS), {"name": "toy"}, {}, source_decoders={1: other()}))
    with pytest.raises(CaptionerError, match=f"bad.pt: its decoder for source 1 .*{problem}") as err:
        load_bundle(path)
    assert "\n" not in str(err.value)


def test_the_onnx_export_routes_like_pytorch(tmp_path):
    from captioner.export.onnx_export import export_bundle
    from captioner.runtime.model.exported import read_exported
    from captioner.runtime.model.runners import load_runners

    vocab = Vocabulary(WORDS)
    bundle = ModelBundle(_decoder(0), vocab, {"name": "toy", "grid_size": 2}, {}, source_decoders={1: _decoder(1)})
    folder = export_bundle(bundle, "digest", tmp_path / "toy.onnx", "float32")
    assert (folder / "step-s1.onnx").is_file() and (folder / "init-s1.onnx").is_file()
    exported, _ = read_exported(folder, tmp_path / "toy.pt", "digest")
    assert exported.source_decoders == (1,)
    decoder, _ = load_runners(tmp_path / "toy.pt", "digest", False, folder, sources=exported.source_decoders)
    pooled, grid = _features()
    sources = [1, 1, 0, 0, 1]
    got = caption_features(decoder, vocab, pooled, grid, SEARCH, sources=sources)
    want = caption_features(decoder_runner(bundle), vocab, pooled, grid, SEARCH, sources=sources)
    assert _tokens(got) == _tokens(want)
    assert np.allclose([h[0].log_prob for h in got], [h[0].log_prob for h in want], atol=1e-4)
    # exported again without it: its graphs go, and bundle.json says there is none
    export_bundle(ModelBundle(bundle.decoder, vocab, bundle.encoder, {}), "d2", folder, "float32")
    assert not (folder / "step-s1.onnx").exists() and not (folder / "init-s1.onnx").exists()
    assert json.loads((folder / "bundle.json").read_text())["source_decoders"] == []


@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_weights_a_source_decoder_shares_with_the_main_one_are_stored_once(tmp_path, precision):
    vocab = Vocabulary(WORDS)
    main, everyday = _decoder(0), _decoder(1)
    with torch.no_grad():  # a fine-tune that froze the initial state's layers
        for name in ("init_h", "init_c"):
            getattr(everyday, name).load_state_dict(getattr(main, name).state_dict())
    save_bundle(tmp_path / "m.pt", ModelBundle(main, vocab, {"name": "toy"}, {}, source_decoders={1: everyday}), precision)
    stored = torch.load(tmp_path / "m.pt", weights_only=True)["source_decoders"]["1"]
    assert stored["shared"] == ["init_c.bias", "init_c.weight", "init_h.bias", "init_h.weight"]
    assert not any(k.startswith("init_") for k in stored["state_dict"])
    loaded = load_bundle(tmp_path / "m.pt")
    mine, theirs = loaded.decoder.state_dict(), loaded.source_decoders[1].state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in stored["shared"])
    assert not torch.equal(mine["out.weight"], theirs["out.weight"])
    for key, value in everyday.state_dict().items():
        assert torch.allclose(theirs[key], value, atol=0.05 * value.abs().max().item() + 1e-3), key


def test_a_source_decoder_that_starts_like_the_main_one_shares_its_init_graph(tmp_path):
    from captioner.export.onnx_export import export_bundle, shared_init
    from captioner.runtime.model.exported import read_exported
    from captioner.runtime.model.runners import load_runners

    vocab = Vocabulary(WORDS)
    main, everyday = _decoder(0), _decoder(1)
    bundle = ModelBundle(main, vocab, {"name": "toy", "grid_size": 2}, {}, source_decoders={1: everyday})
    folder = export_bundle(bundle, "digest", tmp_path / "toy.onnx", "float32")
    assert (folder / "init-s1.onnx").is_file() and shared_init(bundle) == []
    with_initial_state_of(everyday, main)  # now it keeps the main decoder's initial-state layers
    assert shared_init(bundle) == [1]
    export_bundle(bundle, "digest", folder, "float32")
    assert not (folder / "init-s1.onnx").exists() and (folder / "step-s1.onnx").is_file()
    exported, _ = read_exported(folder, tmp_path / "toy.pt", "digest")
    assert exported.shared_init == (1,)
    decoder, _ = load_runners(tmp_path / "toy.pt", "digest", False, folder, sources=(1,), shared_init=exported.shared_init)
    pooled, grid = _features()
    sources = [0, 1, 1, 0, 1]
    got = caption_features(decoder, vocab, pooled, grid, SEARCH, sources=sources)
    want = caption_features(decoder_runner(bundle), vocab, pooled, grid, SEARCH, sources=sources)
    assert _tokens(got) == _tokens(want)
    with pytest.raises(CaptionerError, match="init-s1.onnx: ONNX file missing"):  # the export says it shares: no guessing
        load_runners(tmp_path / "toy.pt", "digest", False, folder, sources=(1,))


@pytest.mark.parametrize("style", ["attention", "add", "inject"])
def test_taking_the_main_decoders_initial_state_layers_makes_it_start_alike(style):
    from captioner.export.onnx_export import same_initial_state

    main, everyday = _decoder(0, style), _decoder(1, style)
    assert not same_initial_state(main, everyday, 4)
    before = {k: v.clone() for k, v in everyday.state_dict().items()}
    assert with_initial_state_of(everyday, main) is everyday
    assert same_initial_state(main, everyday, 4)
    changed = {k for k, v in everyday.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.split(".")[0] in everyday.initial_state_layers for k in changed)  # nothing else moved
    with pytest.raises(ValueError, match="cannot take"):
        with_initial_state_of(_decoder(1, "add" if style != "add" else "inject"), main)


def test_the_default_names_the_decoder_that_wrote_each_caption(shipped_captioner, flickr_images, coco_dev):
    from captioner.runtime.data.images import load_image

    images = [load_image(coco_dev / "images" / "000000000724.jpg")] + [load_image(p) for p in flickr_images[:6]]
    results = shipped_captioner.caption(images)
    names = [r.concepts["decoder"] for r in results]
    assert names[0] == "everyday" and results[0].concepts["unfamiliar"]  # the stop sign: an everyday photo
    assert all(name == ("everyday" if r.concepts["unfamiliar"] else "main") for name, r in zip(names, results))
    assert "main" in names  # Flickr8k's photos keep the Flickr8k decoder
    alone = [shipped_captioner.caption([image])[0].caption for image in images]
    assert [r.caption for r in results] == alone  # a mixed batch captions each photo as it would alone
