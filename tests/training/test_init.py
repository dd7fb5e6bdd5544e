"""Starting a run from a trained model: trained rows kept, new words placed, open words given back."""

import torch

from captioner.training.bundle import load_bundle
from captioner.training.init import finish, grow_model, new_words


def test_new_words_are_the_frequent_unknown_ones_most_frequent_first():
    from captioner.runtime.data.vocab import SPECIALS, Vocabulary

    known = Vocabulary(list(SPECIALS) + ["a", "dog"])
    texts = [["a", "giraffe", "eats"], ["a", "giraffe"], ["toaster", "eats"], ["giraffe"]]
    assert new_words(texts, known, min_count=2) == ["giraffe", "eats"]
    assert new_words(texts, known, min_count=1) == ["giraffe", "eats", "toaster"]


def test_a_grown_default_keeps_its_rows_and_gives_back_its_open_words():
    start_bundle = load_bundle("default")
    trained = start_bundle.trained_size
    open_word = start_bundle.vocab.words[trained]  # an open-vocabulary word of the shipped model
    new = next(w for w in ("xylophone", "harpsichord", "platypus", "tuba") if w not in start_bundle.vocab.index)
    texts = [["a", open_word, "near", "a", new]] * 5 + [["a", "qwzxv", "blorptastic"]] * 5
    start, vocab = grow_model("default", texts, min_count=5)
    assert vocab.words[:trained] == start_bundle.vocab.words[:trained]
    added = vocab.words[trained:]
    assert new in added and "qwzxv" not in added  # a word GloVe lacks cannot be placed
    assert open_word in added and open_word not in start.open_words  # an open word seen in training is trained now
    assert start.decoder.config.vocab_size == len(vocab)
    old = start_bundle.decoder.state_dict()
    for key, value in start.decoder.state_dict().items():
        if key in ("embed.table.weight", "out.weight", "out.bias"):
            assert torch.equal(value[:trained], old[key][:trained])
        else:
            assert torch.equal(value, old[key])
    decoder, full, info = finish(start.decoder, vocab, start)
    assert info["trained_vocab_size"] == len(vocab) and info["init_from"] == "default"
    assert full.words[: len(vocab)] == vocab.words and full.words[len(vocab):] == start.open_words
    assert info["open_vocabulary"] == start.open_words and decoder.config.vocab_size == len(full)


def test_a_mixed_run_from_the_default_trains_on_both_sets_and_saves_its_start(flickr_root, coco_train, tmp_path):
    from captioner.training.config import TrainConfig
    from captioner.training.trainer import train

    cfg = TrainConfig(dataset=str(flickr_root), mix=str(coco_train), mix_weight=2.0, mix_holdout=6, init_from="default",
                      output=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), limit_images=6, epochs=1,
                      max_steps=2, threads=2)
    path = train(cfg, progress=False)
    model, start = load_bundle(path), load_bundle(tmp_path / "run" / "start.pt")
    assert model.vocab.words == start.vocab.words and model.trained_size == start.trained_size
    assert model.decoder.config.style == "attention" and model.info["init_from"] == "default"
    assert model.info["train_config"]["mix"] == str(coco_train)
    changed = [k for k, v in model.decoder.state_dict().items() if not torch.equal(v, start.decoder.state_dict()[k])]
    assert changed  # two optimiser steps moved the weights off the start
