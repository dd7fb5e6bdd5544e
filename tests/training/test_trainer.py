"""The training loop's pieces, checked against sums worked out apart: the masked loss with label
smoothing and the attention penalty, the validation loss, the run's files and the torchrun world."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from captioner.training.config import TrainConfig
from captioner.training.data import SplitData
from captioner.training.trainer import (_weights_checksum, distributed_world, sequence_loss, validation_loss,
                                        write_history)

V = 4  # vocabulary: 0 <pad>, 1 <start>, 2 <end>, 3 word


class FixedDecoder(torch.nn.Module):
    """Logits that depend only on the input word (a learnable table), and fixed attention weights."""

    def __init__(self, alphas=None):
        super().__init__()
        self.table = torch.nn.Parameter(torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 1.5, 0.4],
                                                      [0.3, 0.0, 0.6, -1.0], [0.0, 2.0, -0.5, 1.0]]))
        self.alphas = alphas

    def forward(self, pooled, grid, inputs):
        logits = self.table[inputs]  # (B, T, V)
        alphas = None if self.alphas is None else self.alphas[:, : inputs.shape[1]]
        return logits, alphas


def _log_softmax(row):
    top = max(row)
    total = sum(math.exp(x - top) for x in row)
    return [x - top - math.log(total) for x in row]


def _by_hand(tokens, smoothing=0.0):
    """Mean over real targets of (1 - s) * -log p(target) + s * mean over words of -log p(word)."""
    table = FixedDecoder().table.detach().tolist()
    losses = []
    for row in tokens:
        for current, target in zip(row[:-1], row[1:]):
            if target == 0:
                continue
            logp = _log_softmax(table[current])
            losses.append((1 - smoothing) * -logp[target] + smoothing * -sum(logp) / V)
    return sum(losses) / len(losses), len(losses)


TOKENS = [[1, 3, 3, 2, 0], [1, 3, 2, 0, 0], [1, 2, 0, 0, 0]]


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_the_loss_counts_real_targets_only(smoothing):
    cfg = TrainConfig(label_smoothing=smoothing, attention_reg=0.0)
    loss = sequence_loss(FixedDecoder(), None, None, torch.tensor(TOKENS), cfg)
    expected, count = _by_hand(TOKENS, smoothing)
    assert count == 6 and loss.item() == pytest.approx(expected, rel=1e-6)
    padded_more = [row + [0, 0] for row in TOKENS]  # more padding changes nothing
    assert sequence_loss(FixedDecoder(), None, None, torch.tensor(padded_more), cfg).item() == pytest.approx(expected, rel=1e-6)


def test_the_attention_penalty_is_the_mean_squared_shortfall_of_coverage_over_real_steps():
    alphas = torch.zeros(3, 4, 2)  # (B, T-1, L): two cells
    alphas[0, :, 0] = 0.5  # caption 0 (3 real steps) gives cell 0 1.5 in all, cell 1 nothing
    alphas[1, 0] = torch.tensor([0.25, 0.75])  # caption 1: 2 real steps
    alphas[1, 1] = torch.tensor([0.25, 0.75])
    alphas[1, 3] = torch.tensor([9.0, 9.0])  # a padding step: never counted
    alphas[2, 0] = torch.tensor([1.0, 0.0])  # caption 2: 1 real step
    coverage = [[1.5, 0.0], [0.5, 1.5], [1.0, 0.0]]
    penalty = sum((1 - c) ** 2 for row in coverage for c in row) / 6
    cfg = TrainConfig(attention_reg=0.7)
    loss = sequence_loss(FixedDecoder(alphas), None, None, torch.tensor(TOKENS), cfg)
    assert loss.item() == pytest.approx(_by_hand(TOKENS)[0] + 0.7 * penalty, rel=1e-6)
    off = sequence_loss(FixedDecoder(alphas), None, None, torch.tensor(TOKENS), TrainConfig(attention_reg=0.0))
    assert off.item() == pytest.approx(_by_hand(TOKENS)[0], rel=1e-6)


def test_the_loss_gives_gradients_to_the_words_seen():
    decoder = FixedDecoder()
    sequence_loss(decoder, None, None, torch.tensor(TOKENS), TrainConfig(attention_reg=0.0)).backward()
    assert decoder.table.grad[0].abs().sum() == 0  # <pad> is never an input of a real target
    assert decoder.table.grad[1:].abs().sum() > 0


def test_validation_loss_is_the_mean_over_every_real_target_of_the_split():
    split = SplitData(image_ids=["a", "b"], pooled=np.zeros((2, 3), np.float16), grid=None,
                      captions=[(0, row[:row.index(2) + 1]) for row in TOKENS] * 100,  # 300 captions: 2 batches
                      references={})
    decoder = FixedDecoder()
    decoder.train()
    loss = validation_loss(decoder, split, TrainConfig())
    assert loss == pytest.approx(_by_hand(TOKENS)[0], rel=1e-5) and not decoder.training


def test_the_history_is_written_as_json_csv_and_a_curve(tmp_path):
    history = [{"epoch": 1, "train_loss": 3.2, "val_loss": 3.0, "val_bleu4": 0.05},
               {"epoch": 2, "train_loss": 2.9, "val_loss": 2.8, "val_bleu4": 0.07}]
    write_history(history, tmp_path)
    assert json.loads((tmp_path / "history.json").read_text()) == history
    with open(tmp_path / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["epoch"], r["val_bleu4"]) for r in rows] == [("1", "0.05"), ("2", "0.07")]
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_bleu4"]
    assert (tmp_path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.partial"))


def test_the_world_comes_from_torchruns_environment(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_world() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_world() == (3, 4)


def test_the_weights_checksum_is_the_sum_of_every_weight():
    decoder = FixedDecoder()
    total = sum(sum(row) for row in decoder.table.detach().tolist())
    checksum = _weights_checksum(decoder)
    assert checksum.shape == (1,) and checksum.dtype == torch.float64
    assert checksum.item() == pytest.approx(total, abs=1e-6)


def test_a_glove_decoder_starts_from_the_glove_rows_of_its_vocabulary():
    from captioner.training.networks.config import DecoderConfig
    from captioner.training.networks.glove import glove_lookup
    from captioner.training.trainer import new_decoder

    words = ["<pad>", "<start>", "<end>", "<unk>", "dog", "runs", "grass"]
    cfg = TrainConfig(decoder=DecoderConfig(0, 0, style="add", embed_dim=50, hidden_dim=16, embeddings="glove-frozen"))
    decoder = new_decoder(cfg, words, feature_dim=8)
    rows, found = glove_lookup(words, cfg.seed)
    assert found.tolist() == [False, False, False, False, True, True, True]
    table = decoder.embed.table.weight.detach().numpy()
    assert table.shape == (7, 50) and np.array_equal(table[4:], rows[4:])  # "dog", "runs", "grass"
