"""Self-critical sequence training (Rennie et al. 2017): fine-tune a trained decoder on the CIDEr-D
of its own sampled captions, with the mean reward of the image's other samples as the baseline
(Luo 2020, "a better variant of self-critical sequence training").

Per batch of images: draw `samples` captions per image from the decoder (no dropout), score each
against the image's references (CIDEr-D, document frequencies of the training references, plus
`object_reward` times the object reward: +1 for naming an object the references name, -1 for naming
one they do not; rewards.ObjectReward), and raise the log-probability of captions that beat their
siblings' mean, lower the others:

    loss = - sum_t (r_i - mean_{j != i} r_j) * log p(w_t | w_<t, image) / tokens

The best epoch by validation CIDEr (greedy, fast tokenizer) is saved as a bundle with the starting
model's open vocabulary and language model restored, ready for scripts/ship_model.py.
Files in the output folder (atomic): model.pt, history.json, last.pt (for --resume).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from captioner.atomic import atomic_path, write_json
from captioner.runtime.data.cleaning import clean_caption
from captioner.training.init import with_initial_state_of
from captioner.training.networks.open_vocab import extend_vocabulary, trim_vocabulary
from captioner.runtime.data.vocab import SPECIALS, Vocabulary
from captioner.runtime.search import SearchConfig
from captioner.training.sampling import sample_search
from captioner.runtime.search.captions import caption_features, to_text
from captioner.training.networks.torch_runner import TorchRunner
from captioner.training.encoders.features import ensure_features
from captioner.errors import CaptionerError
from captioner.training.bundle import ModelBundle, load_bundle, save_bundle
from captioner.training.scores import coco_scores
from captioner.training.config import SelfCriticalConfig, TrainConfig
from captioner.training.data import SplitData, dataset_parts, join_splits, load_split
from captioner.training.rewards import CiderD, ObjectReward

log = logging.getLogger(__name__)
BOS_ID = Vocabulary(list(SPECIALS)).bos_id  # every vocabulary's <start>
WORDS = TrainConfig.max_caption_length  # reference words kept, as in training


def sequence_log_probs(decoder, pooled, grid, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (N, T) sampled ids ending in <end>, 0-padded -> summed log-probabilities (N,), token counts (N,)."""
    inputs = torch.cat([torch.full_like(tokens[:, :1], BOS_ID), tokens[:, :-1]], dim=1)  # (N, T): <start> w1 .. w_T-1
    logits, _ = decoder(pooled, grid, inputs)  # (N, T, V)
    log_probs = torch.log_softmax(logits, dim=-1).gather(2, tokens.unsqueeze(2)).squeeze(2)  # (N, T)
    mask = (tokens != 0).float()  # (N, T): words and the <end>
    return (log_probs * mask).sum(1), mask.sum(1)


def self_critical_loss(rewards: torch.Tensor, log_probs: torch.Tensor, lengths: torch.Tensor, samples: int) -> torch.Tensor:
    """rewards, log_probs, lengths (N,) with `samples` consecutive rows per image -> scalar loss."""
    per_image = rewards.view(-1, samples)  # (B, S)
    baseline = (per_image.sum(1, keepdim=True) - per_image) / max(samples - 1, 1)  # (B, S) the others' mean
    advantage = (per_image - baseline).view(-1)  # (N,)
    return -(advantage * log_probs).sum() / lengths.sum()


def validation_scores(decoder, vocab, split: SplitData) -> dict[str, float]:
    hyps = caption_features(TorchRunner(decoder), vocab, split.pooled, split.grid, SearchConfig(), greedy=True)
    hypotheses = {i: to_text(vocab, h[0]) for i, h in zip(split.image_ids, hyps)}
    return coco_scores(split.references, hypotheses, meteor=False, fast=True)


def _features(split: SplitData, rows: list[int], with_grid: bool):
    pooled = torch.from_numpy(split.pooled[rows].astype(np.float32))  # (B, D)
    grid = torch.from_numpy(split.grid[rows].astype(np.float32)) if with_grid else None  # (B, L, D)
    return pooled, grid


def self_critical_step(decoder, optimizer, split: SplitData, rows: list[int], references: dict[str, list[list[str]]],
                       cider: CiderD, vocab, cfg: SelfCriticalConfig, generator: torch.Generator | None = None,
                       objects: ObjectReward | None = None) -> torch.Tensor:
    """One optimiser step on the images at `rows` of `split`; returns the sampled captions' rewards (B*S,).
    objects: the object reward, added times `cfg.object_reward` (None: CIDEr-D alone)."""
    decoder.eval()  # no dropout: samples and their log-probabilities come from the same distribution
    pooled, grid = _features(split, rows, decoder.uses_grid)
    pooled = pooled.repeat_interleave(cfg.samples, 0)  # (B*S, D)
    grid = grid.repeat_interleave(cfg.samples, 0) if grid is not None else None  # (B*S, L, D)
    with torch.no_grad():
        tokens = sample_search(decoder.step, decoder.init_state(pooled, grid), vocab.bos_id, vocab.eos_id,
                               cfg.max_length, (vocab.pad_id, vocab.bos_id, vocab.unk_id), generator)  # (B*S, T)
    image_ids = [split.image_ids[r] for r in rows for _ in range(cfg.samples)]
    words = [vocab.decode(seq) for seq in tokens.tolist()]
    rewards = torch.tensor([cider.score(w, references[i], key=i) + (cfg.object_reward * objects.score(w, i) if objects else 0.0)
                            for w, i in zip(words, image_ids)])  # (B*S,)
    log_probs, lengths = sequence_log_probs(decoder, pooled, grid, tokens)  # (B*S,) each
    loss = self_critical_loss(rewards, log_probs, lengths, cfg.samples)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(decoder.parameters(), cfg.grad_clip)
    optimizer.step()
    return rewards


def with_open_vocabulary(decoder, vocab, start: ModelBundle):
    """The fine-tuned (trained-words-only) decoder given back the open-vocabulary words of `start`,
    in the same ids, with rows made afresh from the fine-tuned neighbours' rows."""
    open_words = list(start.vocab.words[start.trained_size:])
    if not open_words:
        return decoder, vocab
    extended, full_vocab, _ = extend_vocabulary(decoder, vocab, open_words)
    if list(full_vocab.words) != list(start.vocab.words):
        raise CaptionerError("the open vocabulary could not be restored in the same order")
    return extended, full_vocab


def fixed_initial_state(decoder, main) -> None:
    """Give `decoder` the initial-state layers of `main` (the same style) and keep them out of training."""
    try:
        with_initial_state_of(decoder, main)
    except ValueError as exc:
        raise CaptionerError(f"--initial-state-from: {exc}") from None
    for name in decoder.initial_state_layers:
        getattr(decoder, name).requires_grad_(False)


def epoch_order(n_images: int, weights: list[float] | None, rng: random.Random) -> list[int]:
    """One epoch's image rows, shuffled: row k int(w_k) times, plus once more with probability w_k - int(w_k)."""
    if weights is None:
        order = list(range(n_images))
    else:
        order = [k for k, w in enumerate(weights) for _ in range(int(w) + (rng.random() < w - int(w)))]
    rng.shuffle(order)
    return order


def _splits(cfg: SelfCriticalConfig, start: ModelBundle, vocab, with_grid: bool, progress: bool):
    """(train, val, per-image sampling weights or None): `cfg.dataset`'s splits, joined by `cfg.mix`'s
    photos less the seeded hold-out (which joins validation), as `captioner train --mix` splits them."""
    splits = []
    weights = []  # per training image
    for data, train_ids, val_ids, weight in dataset_parts(cfg):
        cache = ensure_features(data, train_ids + val_ids, start.encoder["name"], cfg.cache_dir, progress=progress)
        if cache.encoder_info().get("name") != start.encoder["name"]:
            raise CaptionerError(f"{cfg.cache_dir} holds {cache.encoder_info().get('name')} features, the model needs {start.encoder['name']}")
        splits.append((load_split(data, train_ids, vocab, cache, with_grid, WORDS), load_split(data, val_ids, vocab, cache, with_grid, WORDS)))
        weights += [weight] * len(splits[-1][0].image_ids)
    train, val = splits[0]
    for more_train, more_val in splits[1:]:
        train, val = join_splits(train, more_train), join_splits(val, more_val)
    return train, val, None if set(weights) == {1.0} else weights


def finetune(cfg: SelfCriticalConfig, resume: bool = False, progress: bool = True) -> Path:
    """Fine-tune `cfg.model` by self-critical training; returns the path of the best bundle."""
    if cfg.samples < 2:
        raise CaptionerError("self-critical training needs samples >= 2 (the baseline is the other samples' mean)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    start = load_bundle(cfg.model)
    decoder, vocab = trim_vocabulary(start.decoder, start.vocab, start.trained_size)
    if cfg.initial_state_from:
        fixed_initial_state(decoder, load_bundle(cfg.initial_state_from).decoder)
    with_grid = decoder.uses_grid
    train_split, val_split, weights = _splits(cfg, start, vocab, with_grid, progress)
    references = {i: [clean_caption(c) for c in refs] for i, refs in train_split.references.items()}
    cider = CiderD(references.values())
    objects = ObjectReward(references) if cfg.object_reward else None
    optimizer = torch.optim.Adam([p for p in decoder.parameters() if p.requires_grad], lr=cfg.lr)
    history: list[dict] = []
    step, first_epoch = 0, 1
    checkpoint = out / "last.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        decoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, step, first_epoch = state["history"], state["step"], state["epoch"] + 1
    elif checkpoint.is_file():
        raise CaptionerError(f"{out} already has a run; pass --resume to continue it or choose another --output")
    if not history:
        before = validation_scores(decoder, vocab, val_split)
        history.append({"epoch": 0, "step": 0, "mean_reward": None, "val_cider": round(before["CIDEr"], 4),
                        "val_bleu4": round(before["BLEU-4"], 4), "seconds": 0.0, "best": True})
        log.info("start: val CIDEr %.4f, BLEU-4 %.4f (greedy)", before["CIDEr"], before["BLEU-4"])
    best = max(h["val_cider"] for h in history if h["best"])
    n_images = len(train_split.image_ids)
    for epoch in range(first_epoch, cfg.epochs + 1):
        since_best = len(history) - 1 - max(i for i, h in enumerate(history) if h["best"])
        if since_best >= cfg.patience or (cfg.max_steps and step >= cfg.max_steps):
            break
        order = epoch_order(n_images, weights, random.Random(cfg.seed + epoch))
        started, reward_sum, reward_count = time.time(), 0.0, 0
        chunks = [order[s : s + cfg.batch_images] for s in range(0, len(order), cfg.batch_images)]
        bar = tqdm(chunks, desc=f"self-critical epoch {epoch}", unit="batch", disable=not progress)
        for rows in bar:
            rewards = self_critical_step(decoder, optimizer, train_split, rows, references, cider, vocab, cfg, generator, objects)
            step += 1
            reward_sum += float(rewards.sum())
            reward_count += len(rewards)
            bar.set_postfix(reward=f"{reward_sum / reward_count:.3f}")
            if cfg.max_steps and step >= cfg.max_steps:
                break
        seconds = time.time() - started
        scores = validation_scores(decoder, vocab, val_split)
        improved = scores["CIDEr"] > best
        if improved:
            best = scores["CIDEr"]
            extended, full_vocab = with_open_vocabulary(decoder, vocab, start)
            info = {**start.info, "self_critical": {"config": asdict(cfg), "epoch": epoch, "val_cider_greedy": scores["CIDEr"],
                                                    "val_bleu4_greedy": scores["BLEU-4"]}}
            info.pop("test_scores", None)
            info.pop("test_scores_greedy", None)
            save_bundle(out / "model.pt", ModelBundle(extended, full_vocab, start.encoder, info, start.language_model))
            decoder.eval()
        history.append({"epoch": epoch, "step": step, "mean_reward": round(reward_sum / max(reward_count, 1), 4),
                        "val_cider": round(scores["CIDEr"], 4), "val_bleu4": round(scores["BLEU-4"], 4),
                        "seconds": round(seconds, 1), "best": improved})
        log.info("epoch %d: mean reward %.3f, val CIDEr %.4f, BLEU-4 %.4f%s (%.0fs)", epoch,
                 reward_sum / max(reward_count, 1), scores["CIDEr"], scores["BLEU-4"], " *" if improved else "", seconds)
        write_json(out / "history.json", history)
        with atomic_path(checkpoint) as tmp:
            torch.save({"model": decoder.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "step": step, "history": history}, tmp)
    if not (out / "model.pt").is_file():
        raise CaptionerError(f"no epoch beat the starting model's validation CIDEr {best:.4f}; nothing saved in {out}")
    return out / "model.pt"
