"""Open vocabulary: new words get their rows from GloVe neighbours; old words keep theirs."""

import numpy as np
import torch

from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder
from captioner.training.networks.open_vocab import extend_vocabulary, nearest_rows
from captioner.training.bundle import load_bundle


def test_nearest_rows_by_cosine():
    known = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    index, weights = nearest_rows(np.array([[2.0, 0.1]]), known, k=2)
    assert index.tolist() == [[0, 2]]
    assert np.isclose(weights.sum(), 1.0) and weights[0, 0] > weights[0, 1]


def test_new_words_are_blends_of_their_neighbours():
    torch.manual_seed(0)
    vocab = Vocabulary(list(SPECIALS) + ["dog", "cat", "man", "woman", "car", "truck", "grass", "water"])
    decoder = build_decoder(DecoderConfig(len(vocab), 12, style="inject", embed_dim=8, hidden_dim=16)).eval()
    bigger, new_vocab, added = extend_vocabulary(decoder, vocab, ["puppy", "bus", "dog", "qzxv"], k=1)
    assert added == ["bus", "puppy"]  # "dog" is known, "qzxv" is not in GloVe
    assert new_vocab.words[: len(vocab)] == vocab.words and new_vocab.words[len(vocab):] == added
    old, new = decoder.state_dict(), bigger.state_dict()
    for key in ("embed.table.weight", "out.weight", "out.bias"):
        torch.testing.assert_close(new[key][: len(vocab)], old[key])
    # with one neighbour, the new rows copy it: a puppy is read and scored like a dog, a bus like a car or truck
    puppy, bus = new_vocab.index["puppy"], new_vocab.index["bus"]
    torch.testing.assert_close(new["out.weight"][puppy], old["out.weight"][vocab.index["dog"]])
    assert any(torch.equal(new["out.weight"][bus], old["out.weight"][vocab.index[w]]) for w in ("car", "truck"))


def test_the_shipped_model_knows_words_flickr8k_never_taught():
    bundle = load_bundle()
    assert bundle.trained_size < len(bundle.vocab)
    for word in ("kangaroo", "pineapple", "lighthouse", "llama"):  # in no Flickr8k or coco-train caption often enough
        assert bundle.vocab.index[word] >= bundle.trained_size
    for word in ("pizza", "zebra", "broccoli", "giraffe"):  # Flickr8k had a few pizzas; coco-train taught the rest
        assert bundle.vocab.index[word] < bundle.trained_size
