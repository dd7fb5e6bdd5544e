"""Self-critical training: the loss worked by hand, log-probabilities that agree with the search's,
the open vocabulary restored, and a short run that raises the reward on real Flickr8k images."""

import json
import math

import pytest
import torch

from captioner.training.sampling import sample_search
from captioner.errors import CaptionerError
from captioner.training.bundle import load_bundle
from captioner.training.networks.open_vocab import trim_vocabulary
from captioner.training.config import SelfCriticalConfig
from captioner.training.self_critical import (finetune, self_critical_loss, self_critical_step,
                                              sequence_log_probs, with_open_vocabulary)


def test_loss_weights_each_sample_by_its_reward_above_its_siblings_mean():
    rewards = torch.tensor([3.0, 1.0, 2.0, 2.0])  # two images, two samples each
    log_probs = torch.tensor([-1.0, -2.0, -3.0, -4.0], requires_grad=True)
    lengths = torch.tensor([2.0, 3.0, 4.0, 1.0])
    loss = self_critical_loss(rewards, log_probs, lengths, samples=2)
    # baselines 1, 3, 2, 2 -> advantages 2, -2, 0, 0
    assert loss.item() == pytest.approx(-(2 * -1.0 - 2 * -2.0) / 10.0)
    loss.backward()
    assert log_probs.grad.tolist() == pytest.approx([-0.2, 0.2, 0.0, 0.0])  # raise the better one, lower the worse


@pytest.fixture(scope="module")
def shipped():
    return load_bundle("default")


def test_sequence_log_probs_agree_with_stepping_the_decoder(shipped, flickr_root):
    decoder, vocab = trim_vocabulary(shipped.decoder, shipped.vocab, shipped.trained_size)
    decoder.eval()
    gen = torch.Generator().manual_seed(0)
    pooled, grid = torch.randn(3, 1280, generator=gen).abs(), torch.randn(3, 81, 1280, generator=gen).abs()
    tokens = sample_search(decoder.step, decoder.init_state(pooled, grid), vocab.bos_id, vocab.eos_id, 8, (0, 1, 3), gen)
    with torch.no_grad():
        summed, lengths = sequence_log_probs(decoder, pooled, grid, tokens)
        state = decoder.init_state(pooled, grid)
        prev = torch.full((3,), vocab.bos_id)
        expected = torch.zeros(3)
        for t in range(tokens.shape[1]):
            logp, state = decoder.step(prev, state)
            live = tokens[:, t] != 0
            expected += torch.where(live, logp.gather(1, tokens[:, t:t + 1]).squeeze(1), torch.zeros(3))
            prev = tokens[:, t]
    assert summed.tolist() == pytest.approx(expected.tolist(), abs=1e-3)
    assert lengths.tolist() == [float((row != 0).sum()) for row in tokens]


def test_open_vocabulary_comes_back_in_the_same_ids(shipped):
    decoder, vocab = trim_vocabulary(shipped.decoder, shipped.vocab, shipped.trained_size)
    assert len(vocab) == shipped.trained_size < len(shipped.vocab)
    extended, full = with_open_vocabulary(decoder, vocab, shipped)
    assert full.words == shipped.vocab.words
    before, after = shipped.decoder.state_dict(), extended.state_dict()
    size = shipped.trained_size
    for key in before:
        if before[key].shape[0] != len(full):
            assert torch.equal(before[key], after[key]), key
            continue
        assert torch.equal(before[key][:size], after[key][:size]), key  # trained rows kept
        # open rows rebuilt alike (from trained rows): within the shipped file's int8 rounding, twice (the
        # stored row's and its sources'), at most 1/254 of the matrix's largest row each
        bound = 2e-3 + 2 * before[key].abs().max() / 254 if before[key].dim() == 2 else 2e-3
        assert ((before[key][size:] - after[key][size:]).abs() <= bound).all(), key


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, flickr_root):
    out = tmp_path_factory.mktemp("scst")
    cfg = SelfCriticalConfig(dataset=str(flickr_root), output=str(out / "run"), cache_dir=str(out / "cache"),
                             limit_images=12, epochs=1, batch_images=6, threads=2, lr=1e-4)
    try:
        path = finetune(cfg, progress=False)
    except CaptionerError as exc:  # no epoch beat the start on 12 val images: a legitimate outcome
        assert "nothing saved" in str(exc)
        path = None
    return cfg, path


def test_run_writes_history_and_resumes(small_run):
    cfg, path = small_run
    from pathlib import Path

    run = Path(cfg.output)
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[1]["step"] == 2 and history[1]["mean_reward"] > 0
    if path is not None:
        assert load_bundle(path).vocab.words == load_bundle("default").vocab.words
    with pytest.raises(CaptionerError, match="--resume"):
        finetune(cfg, progress=False)
    cfg.epochs = 2
    try:
        finetune(cfg, resume=True, progress=False)
    except CaptionerError:
        pass
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [0, 1, 2]
    assert not list(run.glob("*.partial"))


def test_steps_raise_the_reward_of_the_sampled_captions(small_run, shipped):
    from captioner.runtime.data.cleaning import clean_caption
    from captioner.runtime.data.datasets import load_dataset
    from captioner.training.encoders.features import FeatureCache
    from captioner.training.data import load_split
    from captioner.training.rewards import CiderD

    cfg, _ = small_run
    decoder, vocab = trim_vocabulary(shipped.decoder, shipped.vocab, shipped.trained_size)
    dataset = load_dataset(cfg.dataset).subset(cfg.limit_images, cfg.seed)
    split = load_split(dataset, "train", vocab, FeatureCache(cfg.cache_dir, "efficientnet-lite2"), True, 30)
    refs = {i: [clean_caption(c) for c in r] for i, r in split.references.items()}
    cider = CiderD(refs.values())
    optimizer = torch.optim.Adam(decoder.parameters(), lr=2e-3)
    step_cfg = SelfCriticalConfig(samples=6, max_length=12)
    gen = torch.Generator().manual_seed(0)
    rows = list(range(3))
    means = [self_critical_step(decoder, optimizer, split, rows, refs, cider, vocab, step_cfg, gen).mean().item()
             for _ in range(8)]
    assert all(math.isfinite(m) for m in means)
    assert sum(means[-4:]) / 4 > 1.2 * sum(means[:2]) / 2, means  # from the int8 default: 0.45 -> 0.59


def test_a_mixed_epoch_sees_each_image_as_often_as_its_weight_says():
    import random
    from collections import Counter

    from captioner.training.self_critical import epoch_order

    plain = epoch_order(5, None, random.Random(0))
    assert sorted(plain) == [0, 1, 2, 3, 4] and plain != [0, 1, 2, 3, 4]  # each once, shuffled
    counts = Counter()
    for seed in range(400):
        counts.update(epoch_order(3, [1.0, 2.0, 0.5], random.Random(seed)))
    assert counts[0] == 400 and counts[1] == 800  # whole weights: exactly that many times an epoch
    assert 160 <= counts[2] <= 240  # a fraction: that share of epochs


def test_self_critical_mixes_a_second_set_and_holds_out_the_same_photos_as_training(flickr_root, coco_dev, tmp_path):
    from captioner.training.bundle import load_bundle
    from captioner.training.data import holdout
    from captioner.runtime.data.datasets import load_dataset
    from captioner.training.self_critical import _splits
    from captioner.training.networks.open_vocab import trim_vocabulary

    start = load_bundle("default")
    decoder, vocab = trim_vocabulary(start.decoder, start.vocab, start.trained_size)
    cfg = SelfCriticalConfig(dataset=str(flickr_root), mix=str(coco_dev), mix_weight=2.0, mix_holdout=20, limit_images=30,
                             cache_dir=str(tmp_path / "cache"))
    train, val, weights = _splits(cfg, start, vocab, False, progress=False)
    coco = load_dataset(str(coco_dev))
    coco_train, coco_val = holdout(sorted(coco.captions), 20, cfg.seed)
    assert set(coco_val[:30]) <= set(val.image_ids) and not set(coco_val) & set(train.image_ids)
    assert set(coco_train[:30]) <= set(train.image_ids)
    assert weights == [1.0 if i not in coco.captions else 2.0 for i in train.image_ids]


def test_the_object_reward_is_added_to_each_sampled_captions_cider(small_run, shipped):
    """The same samples (same decoder, same seed) scored with and without the object reward differ by
    exactly its weight times that caption's object reward, worked out here from the samples themselves."""
    import copy

    from captioner.runtime.data.cleaning import clean_caption
    from captioner.runtime.data.datasets import load_dataset
    from captioner.training.data import load_split
    from captioner.training.encoders.features import FeatureCache
    from captioner.training.rewards import CiderD, ObjectReward
    from captioner.training.self_critical import _features

    cfg, _ = small_run
    decoder, vocab = trim_vocabulary(shipped.decoder, shipped.vocab, shipped.trained_size)
    dataset = load_dataset(cfg.dataset).subset(cfg.limit_images, cfg.seed)
    split = load_split(dataset, "train", vocab, FeatureCache(cfg.cache_dir, "efficientnet-lite2"), True, 30)
    refs = {i: [clean_caption(c) for c in r] for i, r in split.references.items()}
    cider, objects = CiderD(refs.values()), ObjectReward(refs)
    rows, plain_cfg, weighted_cfg = list(range(4)), SelfCriticalConfig(samples=4, max_length=12), \
        SelfCriticalConfig(samples=4, max_length=12, object_reward=0.5)
    got = {}
    for name, step_cfg, reward in (("plain", plain_cfg, None), ("weighted", weighted_cfg, objects)):
        model = copy.deepcopy(decoder)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        got[name] = self_critical_step(model, optimizer, split, rows, refs, cider, vocab, step_cfg,
                                       torch.Generator().manual_seed(3), reward)
    # the samples, drawn again as the step draws them
    decoder.eval()
    pooled, grid = _features(split, rows, decoder.uses_grid)
    pooled, grid = pooled.repeat_interleave(4, 0), grid.repeat_interleave(4, 0)
    with torch.no_grad():
        tokens = sample_search(decoder.step, decoder.init_state(pooled, grid), vocab.bos_id, vocab.eos_id, 12,
                               (vocab.pad_id, vocab.bos_id, vocab.unk_id), torch.Generator().manual_seed(3))
    ids = [split.image_ids[r] for r in rows for _ in range(4)]
    extra = [0.5 * objects.score(vocab.decode(seq), i) for seq, i in zip(tokens.tolist(), ids)]
    assert (got["weighted"] - got["plain"]).tolist() == pytest.approx(extra, abs=1e-6)
    assert any(extra), extra  # Flickr8k's captions name people and dogs: some samples earn it


def test_a_run_with_the_object_reward_scores_its_samples_with_it(small_run):
    from dataclasses import replace
    from pathlib import Path

    cfg, _ = small_run
    weighted = replace(cfg, output=str(Path(cfg.output).parent / "objects"), object_reward=1.0)
    try:
        finetune(weighted, progress=False)
    except CaptionerError as exc:
        assert "nothing saved" in str(exc)
    plain_history = json.loads((Path(cfg.output) / "history.json").read_text())
    history = json.loads((Path(weighted.output) / "history.json").read_text())
    # the same start, seed and first samples: only the object reward (person and dog words) moves the mean
    assert history[0] == plain_history[0]
    assert history[1]["mean_reward"] != plain_history[1]["mean_reward"]


def test_initial_state_from_takes_another_models_layers_and_keeps_them_fixed(small_run, shipped, tmp_path):
    """--initial-state-from: the fine-tune starts from that model's initial-state layers and never moves
    them (an everyday decoder is shipped sharing them), while the rest of the decoder trains."""
    import copy
    from dataclasses import replace

    from captioner.training.bundle import save_bundle

    cfg, _ = small_run
    main = copy.deepcopy(shipped)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # layers unlike the start's own
        for name in main.decoder.initial_state_layers:
            for p in getattr(main.decoder, name).parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    save_bundle(tmp_path / "main.pt", main)
    main_state = load_bundle(tmp_path / "main.pt").decoder.state_dict()
    run = replace(cfg, output=str(tmp_path / "run"), initial_state_from=str(tmp_path / "main.pt"), epochs=1, max_steps=2)
    try:
        finetune(run, progress=False)
    except CaptionerError as exc:
        assert "nothing saved" in str(exc)
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)["model"]
    start = shipped.decoder.state_dict()
    fixed = [k for k in state if k.split(".")[0] in shipped.decoder.initial_state_layers]
    assert fixed and all(torch.equal(state[k], main_state[k]) for k in fixed)
    assert not all(torch.equal(state[k], start[k]) for k in fixed)  # not the start's own
    trained = [k for k in state if k not in fixed and state[k].shape == start[k].shape]
    assert any(not torch.equal(state[k], start[k]) for k in trained)  # the rest moved


def test_initial_state_from_a_decoder_of_another_style_is_a_one_line_error(small_run, tmp_path):
    from dataclasses import replace

    cfg, _ = small_run
    run = replace(cfg, output=str(tmp_path / "run"), initial_state_from="lite2-add", max_steps=1)
    with pytest.raises(CaptionerError, match="--initial-state-from: .*cannot take") as info:
        finetune(run, progress=False)
    assert "\n" not in str(info.value)
