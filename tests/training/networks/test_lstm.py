"""The decoder's step interface must agree with its teacher-forced forward pass, in every style."""

import numpy as np
import pytest
import torch

from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.glove import glove_matrix


@pytest.mark.parametrize("merge", ["add", "inject", "attention"])
def test_step_matches_forward(merge):
    torch.manual_seed(0)
    decoder = build_decoder(DecoderConfig(40, 24, style=merge, embed_dim=16, hidden_dim=32, attention_dim=8)).eval()
    pooled, grid = torch.randn(3, 24), torch.randn(3, 7, 24)  # (B, D), (B, L, D)
    tokens = torch.randint(4, 40, (3, 6))  # (B, T)
    with torch.no_grad():
        logits, alphas = decoder(pooled, grid, tokens)  # (B, T, V)
        state = decoder.init_state(pooled, grid)
        for t in range(tokens.shape[1]):
            log_probs, state = decoder.step(tokens[:, t], state)
            torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5, rtol=1e-4)
            if merge == "attention":  # the state carries the weights the step just used
                torch.testing.assert_close(decoder.attention(state), alphas[:, t], atol=1e-6, rtol=1e-5)
    assert logits.shape == (3, 6, 40)
    if merge == "attention":
        assert alphas.shape == (3, 6, 7)
        torch.testing.assert_close(alphas.sum(-1), torch.ones(3, 6))
    else:
        assert alphas is None


@pytest.mark.parametrize("merge", ["add", "inject", "attention"])
def test_a_static_state_part_of_one_row_serves_every_row(merge):
    """TorchRunner steps are marked `broadcasting`: for one image, search passes the parts a step
    leaves untouched (grid, its projection, the image projection) as one row for all beam rows."""
    from captioner.training.networks.torch_runner import TorchRunner
    from captioner.runtime.search.engine import broadcasts

    torch.manual_seed(0)
    runner = TorchRunner(build_decoder(DecoderConfig(40, 24, style=merge, embed_dim=16, hidden_dim=32, attention_dim=8)))
    assert broadcasts(runner.step)
    rng = np.random.default_rng(0)
    start = runner.init_state(rng.standard_normal((1, 24)).astype(np.float32),
                              rng.standard_normal((1, 7, 24)).astype(np.float32))
    _, state = runner.step(np.array([1]), start)
    static = [new is old for new, old in zip(state, start)]
    assert any(static) == (merge != "inject")
    rows = np.array([5, 9, 12, 30])
    varied = [np.repeat(s, 4, 0) + (0 if keep else rng.standard_normal((4,) + s.shape[1:]).astype(np.float32))
              for s, keep in zip(state, static)]  # the rows differ in what the step changes
    one_row = tuple(s[:1] if keep else s for s, keep in zip(varied, static))
    (want, new_want), (got, new_got) = runner.step(rows, tuple(varied)), runner.step(rows, one_row)
    np.testing.assert_allclose(got, want, atol=1e-6)
    for a, b, keep in zip(new_want, new_got, static):
        if not keep:
            np.testing.assert_allclose(b, a, atol=1e-6)


def test_image_changes_the_prediction():
    torch.manual_seed(0)
    for merge in ("add", "inject", "attention"):
        decoder = build_decoder(DecoderConfig(40, 24, style=merge, embed_dim=16, hidden_dim=32)).eval()
        tokens = torch.ones(2, 1, dtype=torch.long)
        pooled, grid = torch.randn(2, 24), torch.randn(2, 7, 24)
        logits, _ = decoder(pooled, grid, tokens)
        assert not torch.allclose(logits[0], logits[1]), merge


def test_glove_vectors_cover_caption_words_and_keep_specials_random():
    words = ["<pad>", "<start>", "<end>", "<unk>", "dog", "running", "grass", "zzqxj"]
    matrix, found = glove_matrix(words)
    assert found == 3  # dog, running, grass
    assert np.all(matrix[0] == 0)
    dog, _running, grass = matrix[4], matrix[5], matrix[6]
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(dog, grass) > 0.2 and np.abs(matrix[1]).sum() > 0


def test_frozen_glove_table_does_not_train():
    decoder = build_decoder(DecoderConfig(20, 8, style="inject", embeddings="glove-frozen", hidden_dim=16))
    assert not decoder.embed.table.weight.requires_grad
    tuned = build_decoder(DecoderConfig(20, 8, style="inject", embeddings="glove-finetune", hidden_dim=16))
    assert tuned.embed.table.weight.requires_grad and tuned.embed.table.weight.shape[1] == 50
