"""The fusion language model moved to another order of the same words scores every word as before."""

import pytest
import torch

from captioner.training.networks.language_model import LanguageModel, LanguageModelConfig, reorder_vocabulary


def test_reordered_vocabulary_gives_each_word_its_own_score():
    torch.manual_seed(0)
    words = ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "crib", "llama"]
    order = ["<pad>", "<start>", "<end>", "<unk>", "a", "llama", "dog", "crib"]
    lm = LanguageModel(LanguageModelConfig(vocab_size=len(words), embed_dim=4, hidden_dim=6)).eval()
    moved = reorder_vocabulary(lm, words, order).eval()
    old_ids = torch.tensor([[1, 4, 5, 6]])  # <start> a dog crib
    new_ids = torch.tensor([[order.index(words[i]) for i in old_ids[0]]])
    with torch.no_grad():
        want, got = lm(old_ids), moved(new_ids)  # (1, T, V) each
    for new, word in enumerate(order):
        assert torch.allclose(got[..., new], want[..., words.index(word)], atol=1e-6)
    assert lm.embed.weight[5].equal(moved.embed.weight[6])  # the model itself is not changed
    with pytest.raises(ValueError, match="not the same words"):
        reorder_vocabulary(lm, words, order[:-1] + ["wolf"])
