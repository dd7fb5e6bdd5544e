"""Model bundles: round trip through float16 and int8 files, and clear errors for bad files."""

import pytest
import torch

from captioner.runtime.data.vocab import Vocabulary
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.errors import CaptionerError
from captioner.runtime.model.files import shipped_models
from captioner.training.bundle import ModelBundle, load_bundle, save_bundle


@pytest.mark.parametrize("merge", ["add", "inject", "attention"])
@pytest.mark.parametrize("precision, tolerance", [("float16", 2e-3), ("int8", 3e-2)])
def test_round_trip_keeps_the_predictions(tmp_path, merge, precision, tolerance):
    torch.manual_seed(0)
    vocab = Vocabulary(["<pad>", "<start>", "<end>", "<unk>"] + [f"w{i}" for i in range(30)])
    decoder = build_decoder(DecoderConfig(len(vocab), 24, style=merge, embed_dim=16, hidden_dim=32, attention_dim=8)).eval()
    path = tmp_path / "m.pt"
    save_bundle(path, ModelBundle(decoder, vocab, {"name": "efficientnet-lite2"}, {"note": "x"}), precision)
    loaded = load_bundle(path)
    assert loaded.vocab.words == vocab.words and loaded.info == {"note": "x"}
    pooled, grid, tokens = torch.randn(2, 24), torch.randn(2, 5, 24), torch.randint(4, 34, (2, 6))
    with torch.no_grad():
        expected = torch.log_softmax(decoder(pooled, grid, tokens)[0], -1)
        got = torch.log_softmax(loaded.decoder(pooled, grid, tokens)[0], -1)
    assert (expected - got).abs().max() < tolerance * expected.abs().max()


def test_bad_model_files(tmp_path):
    with pytest.raises(CaptionerError, match="not found"):
        load_bundle(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    with pytest.raises(CaptionerError, match="not a captioner model"):
        load_bundle(junk)
    with pytest.raises(CaptionerError, match="unknown model 'nope'"):
        load_bundle("nope")


def test_the_default_model_ships_with_the_package():
    assert "default" in shipped_models()
    bundle = load_bundle()
    assert len(bundle.vocab) > 1000 and bundle.encoder["name"]


def test_a_background_language_model_round_trips(tmp_path):
    import torch

    from captioner.training.networks.language_model import LanguageModel, LanguageModelConfig

    vocab = Vocabulary(["<pad>", "<start>", "<end>", "<unk>", "a", "dog"])
    decoder = build_decoder(DecoderConfig(len(vocab), 8, style="inject", embed_dim=8, hidden_dim=16)).eval()
    torch.manual_seed(0)
    lm, background = (LanguageModel(LanguageModelConfig(len(vocab), embed_dim=8, hidden_dim=16)).eval() for _ in range(2))
    save_bundle(tmp_path / "m.pt", ModelBundle(decoder, vocab, {"name": "toy"}, {}, lm, background))
    loaded = load_bundle(tmp_path / "m.pt")
    for mine, theirs in ((loaded.language_model, lm), (loaded.background_lm, background)):
        for key, value in theirs.state_dict().items():
            torch.testing.assert_close(mine.state_dict()[key], value, atol=2e-3, rtol=1e-3)  # float16 in the file
    assert not torch.allclose(loaded.background_lm.out.weight, loaded.language_model.out.weight)
    save_bundle(tmp_path / "plain.pt", ModelBundle(decoder, vocab, {"name": "toy"}, {}, lm))
    assert load_bundle(tmp_path / "plain.pt").background_lm is None
