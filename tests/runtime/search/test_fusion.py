"""Shallow fusion with a language model: weight 0 is the decoder alone; a weight adds the LM's log-probs."""

import numpy as np
import torch

from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.torch_runner import TorchRunner
from captioner.training.networks.language_model import LanguageModel, LanguageModelConfig
from captioner.runtime.search import SearchConfig, beam_search
from captioner.runtime.search.fusion import fuse, fused_state


def _models():
    torch.manual_seed(0)
    decoder = build_decoder(DecoderConfig(30, 12, style="attention", embed_dim=8, hidden_dim=16, attention_dim=8)).eval()
    lm = LanguageModel(LanguageModelConfig(30, embed_dim=8, hidden_dim=16)).eval()
    return decoder, lm


def _runners():
    decoder, lm = _models()
    return TorchRunner(decoder), TorchRunner(lm)


def _features(batch):
    rng = np.random.default_rng(batch)
    return rng.standard_normal((batch, 12), np.float32), rng.standard_normal((batch, 5, 12), np.float32)


def test_fused_step_adds_weighted_log_probs_per_image():
    decoder, lm = _runners()
    pooled, grid = _features(2)
    state = decoder.init_state(pooled, grid)
    step = fuse(decoder.step, lm.step, len(state))
    fused = fused_state(state, lm.init_state(2), np.array([0.0, 0.5]))
    tokens = np.array([1, 1])
    got, new_state = step(tokens, fused)
    alone, _ = decoder.step(tokens, state)
    lm_logp, _ = lm.step(tokens, lm.init_state(2))
    np.testing.assert_allclose(got[0], alone[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], alone[1] + 0.5 * lm_logp[1], rtol=1e-5)
    assert len(new_state) == len(fused) and new_state[-1] is fused[-1]  # the weights pass through untouched
    assert new_state[2] is fused[2]  # so is the attention grid: search never reorders it
    np.testing.assert_allclose(decoder.attention(new_state), decoder.attention(decoder.step(tokens, state)[1]))


def test_search_with_zero_weight_equals_plain_search():
    decoder, lm = _runners()
    pooled, grid = _features(3)
    config = SearchConfig(beam_size=3, max_length=8)
    plain = beam_search(decoder.step, decoder.init_state(pooled, grid), 1, 2, config)
    state = decoder.init_state(pooled, grid)
    fused = beam_search(fuse(decoder.step, lm.step, len(state)), fused_state(state, lm.init_state(3), np.zeros(3)),
                        1, 2, config)
    assert [[h.tokens for h in r] for r in plain] == [[h.tokens for h in r] for r in fused]
    heavy = beam_search(fuse(decoder.step, lm.step, len(state)), fused_state(state, lm.init_state(3), np.full(3, 5.0)),
                        1, 2, config)
    assert [[h.tokens for h in r] for r in heavy] != [[h.tokens for h in r] for r in plain]


def test_language_model_step_matches_its_forward_pass():
    _, lm = _models()
    tokens = torch.randint(4, 30, (3, 5))  # (B, T)
    with torch.no_grad():
        logits = lm(tokens)  # (B, T, V)
        state = lm.init_state(3)
        for t in range(5):
            log_probs, state = lm.step(tokens[:, t], state)
            torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5, rtol=1e-4)


def test_density_ratio_subtracts_the_background_model_step_after_step():
    from captioner.runtime.search.fusion import DensityRatio, with_background

    torch.manual_seed(1)
    background = TorchRunner(LanguageModel(LanguageModelConfig(30, embed_dim=8, hidden_dim=16)).eval())
    _, lm = _runners()
    ratio = DensityRatio(lm, background, 0.3)
    state = ratio.init_state(3)
    assert len(state) == 4 and ratio.parts == 2  # the model's (h, c), then the background's
    a, b = lm.init_state(3), background.init_state(3)
    for tokens in ([1, 1, 1], [5, 7, 9], [4, 4, 20]):
        tokens = np.array(tokens)
        got, state = ratio.step(tokens, state)
        want_a, a = lm.step(tokens, a)
        want_b, b = background.step(tokens, b)
        np.testing.assert_allclose(got, want_a - 0.3 * want_b, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(state[2], b[0], rtol=1e-6, atol=1e-6)  # each model keeps its own state
    assert with_background(lm, background, 0.0) is lm and with_background(lm, None, 0.3) is lm
    assert with_background(None, background, 0.3) is None
