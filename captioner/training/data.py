"""Everything training needs in memory: vocabulary, encoded captions and cached features per split."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np
import torch

from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.datasets import Dataset, load_dataset
from captioner.training.sequences import pad_batch
from captioner.runtime.data.vocab import Vocabulary
from captioner.training.encoders.features import FeatureCache, ensure_features
from captioner.training.config import TrainConfig
from captioner.training.init import grow_model

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    image_ids: list[str]
    pooled: np.ndarray  # (N, D) float16
    grid: np.ndarray | None  # (N, L, D) float16
    captions: list[tuple[int, list[int]]]  # (row in pooled, token ids with <start>/<end>)
    references: dict[str, list[str]]  # raw captions, for metrics
    weights: list[float] | None = None  # per caption: times it is seen an epoch (None: once each)
    sources: np.ndarray | None = None  # (N,) per image: 0 the main dataset, 1 the others (DecoderConfig.sources)


def join_splits(first: SplitData, second: SplitData, weight: float = 1.0) -> SplitData:
    """One split holding both sets' images and captions; `second`'s captions seen `weight` times an epoch."""
    offset = len(first.image_ids)
    grid = None if first.grid is None else np.concatenate([first.grid, second.grid])  # (N1 + N2, L, D)
    weights = (first.weights or [1.0] * len(first.captions)) + [weight] * len(second.captions)
    sources = None
    if first.sources is not None or second.sources is not None:
        sources = np.concatenate([s.sources if s.sources is not None else np.zeros(len(s.image_ids), np.int64)
                                  for s in (first, second)])  # (N1 + N2,)
    return SplitData(first.image_ids + second.image_ids, np.concatenate([first.pooled, second.pooled]), grid,
                     first.captions + [(row + offset, tokens) for row, tokens in second.captions],
                     {**first.references, **second.references}, None if set(weights) == {1.0} else weights, sources)


def holdout(ids: list[str], count: int, seed: int) -> tuple[list[str], list[str]]:
    """(train, held out): `count` of `ids` drawn with `seed`, the same for the same ids whatever their order."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    count = min(max(count, 0), len(shuffled))
    return sorted(shuffled[count:]), sorted(shuffled[:count])


def load_split(dataset: Dataset, split: str | list[str], vocab: Vocabulary, cache: FeatureCache,
               with_grid: bool, max_words: int, source: int | None = None) -> SplitData:
    """A split by name, or these image ids; `source`: the id every image gets (None: no sources)."""
    failed = cache.failed_ids()
    ids = [i for i in (dataset.split(split) if isinstance(split, str) else split) if i not in failed]
    pooled, grid = cache.load(ids, with_grid=with_grid)
    captions = [(row, vocab.encode(clean_caption(c)[:max_words])) for row, i in enumerate(ids) for c in dataset.captions[i]]
    sources = None if source is None else np.full(len(ids), source, np.int64)  # (N,)
    return SplitData(ids, pooled, grid, captions, {i: dataset.captions[i] for i in ids}, sources=sources)


def dataset_parts(cfg) -> list[tuple[Dataset, list[str], list[str], float]]:
    """(dataset, train ids, val ids, weight) for `cfg.dataset`, with `cfg.mix` the mixed set less its
    seeded hold-out (which validates), and with `cfg.pseudo` the self-training captions (all trained
    on): the one split of `train` and `self-critical` alike."""
    dataset = load_dataset(cfg.dataset)
    if cfg.limit_images:
        dataset = dataset.subset(cfg.limit_images, cfg.seed)
    parts = [(dataset, dataset.split("train"), dataset.split("val"), 1.0)]
    if cfg.mix:
        mixed = load_dataset(cfg.mix)
        mix_train, mix_val = holdout(sorted(mixed.captions), cfg.mix_holdout, cfg.seed)
        if cfg.limit_images:
            mix_train, mix_val = mix_train[: cfg.limit_images], mix_val[: cfg.limit_images]
        parts.append((mixed, mix_train, mix_val, cfg.mix_weight))
    if getattr(cfg, "pseudo", None):  # self-critical's config has no pseudo-captions
        pseudo = load_dataset(cfg.pseudo)
        parts.append((pseudo, sorted(pseudo.captions)[: cfg.limit_images or None], [], cfg.pseudo_weight))
    return parts


def prepare(cfg: TrainConfig, with_grid: bool, progress: bool = True):
    """The vocabulary (built over every training caption, `--mix` included), the train and val splits,
    and the decoder to start from (`init_from`, grown to the vocabulary: training/init.py) or None."""
    parts = dataset_parts(cfg)
    texts = [clean_caption(c) for data, train_ids, _, _ in parts for i in train_ids for c in data.captions[i]]
    vocab, start = Vocabulary.build(texts, cfg.min_count), None
    if cfg.init_from:
        start, vocab = grow_model(cfg.init_from, texts, cfg.min_count)
    splits = []
    tagged = cfg.decoder.sources > 1  # the main dataset is source 0, --mix and --pseudo source 1
    for number, (data, train_ids, val_ids, weight) in enumerate(parts):
        cache = ensure_features(data, train_ids + val_ids, cfg.encoder, cfg.cache_dir, cfg.encoder_weights, progress)
        source = min(number, 1) if tagged else None
        splits.append((load_split(data, train_ids, vocab, cache, with_grid, cfg.max_caption_length, source),
                       load_split(data, val_ids, vocab, cache, with_grid, cfg.max_caption_length, source) if val_ids else None,
                       weight))
    train, val, _ = splits[0]
    for more_train, more_val, weight in splits[1:]:
        train = join_splits(train, more_train, weight)
        val = join_splits(val, more_val) if more_val is not None else val
    log.info("vocabulary %d words; %d train / %d val captions", len(vocab), len(train.captions), len(val.captions))
    return vocab, train, val, start


def batches(split: SplitData, batch_size: int, shuffle: bool, seed: int):
    """Yield (pooled, grid, tokens, sources) batches (sources None without them); captions of similar
    length go together to cut padding."""
    rng = random.Random(seed)
    if shuffle and split.weights is not None:  # each caption int(w) times, plus once more with probability w - int(w)
        order = [k for k, w in enumerate(split.weights) for _ in range(int(w) + (rng.random() < w - int(w)))]
    else:
        order = list(range(len(split.captions)))
    if shuffle:
        rng.shuffle(order)
        # sort within windows of 50 batches by length, then shuffle the batches
        window = batch_size * 50
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s : s + window], key=lambda k: len(split.captions[k][1]))]
    chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(chunks)
    for chunk in chunks:
        rows = np.array([split.captions[k][0] for k in chunk])
        pooled = torch.from_numpy(split.pooled[rows].astype(np.float32))  # (B, D)
        grid = torch.from_numpy(split.grid[rows].astype(np.float32)) if split.grid is not None else None  # (B, L, D)
        tokens = pad_batch([split.captions[k][1] for k in chunk])  # (B, T)
        sources = torch.from_numpy(split.sources[rows]) if split.sources is not None else None  # (B,)
        yield pooled, grid, tokens, sources
