"""A new decoder style is one class plus one registry line; it then trains, saves, loads and searches."""

import pytest
import torch
from torch import nn

from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.training.networks.base import Decoder
from captioner.training.networks.config import STYLES, DecoderConfig
from captioner.training.networks.styles import build_decoder, register
from captioner.training.networks.add import AddDecoder
from captioner.training.networks.attention import AttentionDecoder
from captioner.training.networks.inject import InjectDecoder
from captioner.training.networks.torch_runner import TorchRunner
from captioner.runtime.search import SearchConfig, beam_search
from captioner.training.bundle import ModelBundle, load_bundle, save_bundle


class GRUDecoder(Decoder):
    """A toy fourth style: a GRU whose initial state comes from the image."""

    def __init__(self, config):
        super().__init__(config)
        self.gru = nn.GRU(config.embed_dim, config.hidden_dim, batch_first=True)

    def forward(self, pooled, grid, inputs):
        h, _ = self._start(pooled)
        hidden, _ = self.gru(self.drop(self.embed(inputs)), h.unsqueeze(0))
        return self.out(self.drop(hidden)), None

    def init_state(self, pooled, grid):
        return (self._start(pooled)[0],)

    def step(self, tokens, state):
        out, h = self.gru(self.embed(tokens).unsqueeze(1), state[0].unsqueeze(0))
        return torch.log_softmax(self.out(out[:, 0]), -1), (h[0],)


def test_config_names_the_class():
    assert [type(build_decoder(DecoderConfig(20, 8, style=m))) for m in ("add", "inject", "attention")] == \
        [AddDecoder, InjectDecoder, AttentionDecoder]
    assert build_decoder(DecoderConfig(20, 8, style="attention")).uses_grid
    with pytest.raises(ValueError, match="style must be one of"):
        build_decoder(DecoderConfig(20, 8, style="nope"))


def test_a_new_style_trains_saves_loads_and_searches(tmp_path):
    register("gru", GRUDecoder)  # the one registry line
    try:
        torch.manual_seed(0)
        vocab = Vocabulary(list(SPECIALS) + ["a", "dog", "runs"])
        decoder = build_decoder(DecoderConfig(len(vocab), 6, style="gru", embed_dim=8, hidden_dim=12, dropout=0.0))
        assert isinstance(decoder, GRUDecoder) and not decoder.uses_grid
        pooled = torch.randn(4, 6)
        tokens = torch.tensor([[1, 4, 5, 6, 2]] * 4)  # <start> a dog runs <end>
        optimizer = torch.optim.Adam(decoder.parameters(), lr=0.05)
        for _ in range(200):
            logits, _ = decoder(pooled, None, tokens[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), tokens[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        save_bundle(tmp_path / "gru.pt", ModelBundle(decoder.eval(), vocab, {"name": "toy"}))
        loaded = load_bundle(tmp_path / "gru.pt").decoder
        assert isinstance(loaded, GRUDecoder)
        loaded = TorchRunner(loaded)  # the search runs on numpy arrays
        state = loaded.init_state(pooled[:1].numpy(), None)
        [best] = beam_search(loaded.step, state, 1, 2, SearchConfig(beam_size=2, exhaustive=True))
        assert vocab.decode(best[0].tokens) == ["a", "dog", "runs"]
        assert best[0].log_prob > -0.01
        # the default early stop ends once two captions are finished, here two unlikely short ones
        [early] = beam_search(loaded.step, state, 1, 2, SearchConfig(beam_size=2))
        assert len(early) == 2 and all(h.log_prob < best[0].log_prob for h in early)
    finally:
        STYLES.pop("gru", None)


def test_the_cli_reads_its_style_choices_from_the_one_table():
    from captioner.cli import build_parser

    register("gru", GRUDecoder)
    try:
        args = build_parser().parse_args(["train", "--style", "gru"])
        assert args.style == "gru"
        assert build_parser().parse_args(["train", "--merge", "add"]).style == "add"  # the flag's old name
    finally:
        STYLES.pop("gru", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--style", "gru"])


def test_configs_stored_before_the_style_had_its_name_still_load():
    stored = {"vocab_size": 20, "feature_dim": 8, "merge": "inject", "hidden_dim": 16, "unknown_field": 1}
    config = DecoderConfig.from_dict(stored)
    assert (config.style, config.hidden_dim, config.embed_dim) == ("inject", 16, DecoderConfig(0, 0).embed_dim)
    add = build_decoder(DecoderConfig(20, 8, style="add", hidden_dim=16))
    assert not hasattr(add, "init_h")  # the add style never used an initial state
    legacy = {**add.state_dict(), "init_h.weight": torch.zeros(16, 8), "init_h.bias": torch.zeros(16),
              "init_c.weight": torch.zeros(16, 8), "init_c.bias": torch.zeros(16)}
    add.load_state_dict(legacy)  # an older model file's unused layers are dropped
    with pytest.raises(RuntimeError):
        add.load_state_dict({**legacy, "other.weight": torch.zeros(1)})
