"""Caption sources: one decoder, a learned feature shift per source (Flickr8k-like or everyday photos),
the same numbers in training (torch), search (numpy) and the ONNX export's bundle.json."""

import numpy as np
import pytest
import torch

from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.runtime.grounding.grounding import ImageConcepts, decoder_sources
from captioner.runtime.search import SearchConfig
from captioner.runtime.search.captions import caption_features, shift_features
from captioner.training.data import SplitData, join_splits
from captioner.training.init import with_sources
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.torch_runner import TorchRunner

WORDS = list(SPECIALS) + ["a", "dog", "runs", "on", "grass", "plate", "of", "food"]


def _decoder(sources: int, style: str = "attention", seed: int = 0):
    torch.manual_seed(seed)
    config = DecoderConfig(vocab_size=len(WORDS), feature_dim=6, style=style, embed_dim=8, hidden_dim=12,
                           attention_dim=5, dropout=0.0, sources=sources)
    return build_decoder(config).eval()


@pytest.mark.parametrize("style", ["attention", "add", "inject"])
def test_a_new_source_starts_as_no_shift_and_a_learned_one_changes_the_captions(style):
    plain = _decoder(1, style)
    assert not hasattr(plain, "source_shift") and plain.source_offsets is None
    tagged = with_sources(plain, 2)
    assert tagged.config.sources == 2 and tagged.source_shift.shape == (2, 6)
    assert torch.equal(tagged.source_shift, torch.zeros(2, 6))
    pooled = torch.randn(3, 6)  # (B, D)
    grid = torch.randn(3, 4, 6) if tagged.uses_grid else None  # (B, L, D)
    inputs = torch.tensor([[1, 4, 5], [1, 6, 7], [1, 8, 9]])  # (B, T)
    sources = torch.tensor([0, 1, 1])
    with torch.no_grad():
        want, _ = plain(pooled, grid, inputs)
        same, _ = tagged(*tagged.shift(pooled, grid, sources), inputs)
        assert torch.allclose(want, same)  # zero shifts: the start captions as before
        tagged.source_shift[1] = torch.linspace(-1, 1, 6)
        moved, _ = tagged(*tagged.shift(pooled, grid, sources), inputs)
    assert torch.allclose(moved[0], want[0]) and not torch.allclose(moved[1:], want[1:])  # only source 1's photos
    assert with_sources(tagged, 2) is tagged  # already has them
    grown = with_sources(tagged, 3)
    assert torch.equal(grown.source_shift[:2], tagged.source_shift) and torch.equal(grown.source_shift[2], torch.zeros(6))


def test_numpy_shift_in_search_matches_the_trained_shift():
    decoder = _decoder(2)
    with torch.no_grad():
        decoder.source_shift.copy_(torch.randn(2, 6))
    pooled = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float16)  # (N, D) as cached
    grid = np.random.default_rng(1).normal(size=(4, 4, 6)).astype(np.float16)  # (N, L, D)
    sources = [0, 1, 1, 0]
    shifted_pooled, shifted_grid = shift_features(decoder.source_offsets, pooled, grid, sources)
    torch_pooled, torch_grid = decoder.shift(torch.from_numpy(pooled.astype(np.float32)),
                                             torch.from_numpy(grid.astype(np.float32)), torch.tensor(sources))
    assert np.allclose(shifted_pooled, torch_pooled.detach().numpy(), atol=1e-2)  # float16 features stay float16
    assert np.allclose(shifted_grid, torch_grid.detach().numpy(), atol=1e-2) and shifted_grid.dtype == np.float16
    assert shift_features(None, pooled, grid, sources) == (pooled, grid)  # a decoder without sources
    assert shift_features(decoder.source_offsets, pooled, grid, None) == (pooled, grid)  # no grounding: no shift
    vocab = Vocabulary(WORDS)
    search = SearchConfig(beam_size=2, max_length=5)
    runner = TorchRunner(decoder)
    per_source = caption_features(runner, vocab, shifted_pooled, shifted_grid, search)
    mixed = caption_features(runner, vocab, *shift_features(decoder.source_offsets, pooled, grid, [0, 0, 0, 0]), search)
    assert [h[0].tokens for h in per_source][::3] == [h[0].tokens for h in mixed][::3]  # source-0 photos alike


def test_unfamiliar_photos_caption_as_everyday_ones():
    concepts = [ImageConcepts({}, {}, unfamiliar=False, everyday=0.9), ImageConcepts({}, {}, unfamiliar=True, everyday=0.9)]
    assert decoder_sources(concepts) == [0, 1]


def test_joined_splits_keep_each_images_source():
    def split(prefix, n, source):
        ids = [f"{prefix}{i}" for i in range(n)]
        sources = None if source is None else np.full(n, source, np.int64)
        return SplitData(ids, np.zeros((n, 2), np.float16), None, [(r, [1, 2]) for r in range(n)], {}, sources=sources)

    joined = join_splits(split("f", 3, 0), split("c", 2, 1), 2.0)
    assert joined.sources.tolist() == [0, 0, 0, 1, 1]
    assert join_splits(split("f", 3, None), split("c", 2, None)).sources is None
    assert join_splits(split("f", 2, None), split("c", 1, 1)).sources.tolist() == [0, 0, 1]


def test_the_export_carries_the_shifts_to_inference(tmp_path):
    from captioner.export.onnx_export import export_bundle
    from captioner.runtime.model.exported import read_exported
    from captioner.training.bundle import ModelBundle

    decoder = _decoder(2, "add")
    with torch.no_grad():
        decoder.source_shift.copy_(torch.randn(2, 6))
    bundle = ModelBundle(decoder, Vocabulary(WORDS), {"name": "toy", "grid_size": 2}, {})
    folder = export_bundle(bundle, "digest", tmp_path / "toy.onnx", "float32")
    exported, _ = read_exported(folder, tmp_path / "toy.pt", "digest")
    assert np.allclose(exported.source_offsets, decoder.source_offsets)
    plain = ModelBundle(_decoder(1, "add"), Vocabulary(WORDS), {"name": "toy", "grid_size": 2}, {})
    exported, _ = read_exported(export_bundle(plain, "d2", tmp_path / "plain.onnx", "float32"), tmp_path / "p.pt", "d2")
    assert exported.source_offsets is None


def test_unfamiliar_flickr_like_photos_may_keep_the_flickr_source():
    """everyday_source_from: an unfamiliar photo the everyday classifier doubts keeps source 0."""
    from captioner.runtime.grounding.grounding import GroundingConfig

    concepts = [ImageConcepts({}, {}, unfamiliar=True, everyday=e) for e in (0.2, 0.39, 0.4, 0.59, 0.6, 0.9)]
    concepts.append(ImageConcepts({}, {}, unfamiliar=False, everyday=0.9))
    assert GroundingConfig().everyday_source_from == 0.4
    assert decoder_sources(concepts) == [0, 0, 1, 1, 1, 1, 0]  # the default: from 0.4 on
    assert decoder_sources(concepts, GroundingConfig(everyday_source_from=0.0)) == [1, 1, 1, 1, 1, 1, 0]
    assert decoder_sources(concepts, GroundingConfig(everyday_source_from=0.6)) == [0, 0, 0, 0, 1, 1, 0]


def test_search_inputs_route_by_the_given_settings():
    from captioner.runtime.grounding.grounding import GroundingConfig, search_inputs

    concepts = [ImageConcepts({}, {}, unfamiliar=True, everyday=0.3), ImageConcepts({}, {}, unfamiliar=True, everyday=0.9)]
    vocab = Vocabulary(WORDS)
    assert search_inputs(concepts, vocab, len(vocab), GroundingConfig(everyday_source_from=0.0))[2] == [1, 1]
    assert search_inputs(concepts, vocab, len(vocab), GroundingConfig())[2] == [0, 1]
