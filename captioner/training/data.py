"""Everything training needs in memory: vocabulary, encoded captions and cached features per split."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np
import torch

from captioner.data.cleaning import clean_caption
from captioner.data.datasets import CaptionDataset, load_dataset
from captioner.data.sequences import pad_batch
from captioner.data.vocab import Vocabulary
from captioner.encoders.features import FeatureCache, ensure_features
from captioner.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    image_ids: list[str]
    pooled: np.ndarray  # (N, D) float16
    grid: np.ndarray | None  # (N, L, D) float16
    captions: list[tuple[int, list[int]]]  # (row in pooled, token ids with <start>/<end>)
    references: dict[str, list[str]]  # raw captions, for metrics


def load_split(dataset: CaptionDataset, split: str, vocab: Vocabulary, cache: FeatureCache,
               with_grid: bool, max_words: int) -> SplitData:
    failed = cache.failed_ids()
    ids = [i for i in dataset.split(split) if i not in failed]
    pooled, grid = cache.load(ids, with_grid=with_grid)
    captions = [(row, vocab.encode(clean_caption(c)[:max_words])) for row, i in enumerate(ids) for c in dataset.captions[i]]
    return SplitData(ids, pooled, grid, captions, {i: dataset.captions[i] for i in ids})


def prepare(cfg: TrainConfig, with_grid: bool, progress: bool = True) -> tuple[CaptionDataset, Vocabulary, SplitData, SplitData]:
    dataset = load_dataset(cfg.dataset)
    if cfg.limit_images:
        dataset = dataset.subset(cfg.limit_images, cfg.seed)
    train_ids, val_ids = dataset.split("train"), dataset.split("val")
    vocab = Vocabulary.build((clean_caption(c) for i in train_ids for c in dataset.captions[i]), cfg.min_count)
    cache = ensure_features(dataset, train_ids + val_ids, cfg.encoder, cfg.cache_dir, cfg.encoder_weights, progress)
    train = load_split(dataset, "train", vocab, cache, with_grid, cfg.max_caption_length)
    val = load_split(dataset, "val", vocab, cache, with_grid, cfg.max_caption_length)
    log.info("vocabulary %d words; %d train / %d val captions", len(vocab), len(train.captions), len(val.captions))
    return dataset, vocab, train, val


def batches(split: SplitData, batch_size: int, shuffle: bool, seed: int):
    """Yield (pooled, grid, tokens) batches; captions of similar length go together to cut padding."""
    order = list(range(len(split.captions)))
    rng = random.Random(seed)
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
        yield pooled, grid, tokens
