"""`captioner extract-features`."""

from __future__ import annotations

import argparse
import time

from captioner.runtime.batch.sources import expand_images
from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.devices import onnx_providers
from captioner.training.encoders import create_encoder
from captioner.training.encoders.features import FeatureCache
from captioner.training.encoders.onnx import maybe_onnx


def extract(args: argparse.Namespace) -> int:
    if args.images:
        items = [(p.name, p) for p in expand_images([args.images])]
    else:
        dataset = load_dataset(args.dataset)
        items = [(i, dataset.image_path(i)) for i in sorted(dataset.captions)]
    encoder = maybe_onnx(create_encoder(args.encoder, args.encoder_weights), onnx_providers(args.device))  # ONNX Runtime where it can
    cache = FeatureCache(args.cache_dir, args.encoder)
    started = time.perf_counter()
    count = cache.extract(encoder, items, batch_size=args.batch_size, keep_grid=not args.no_grid)
    seconds = time.perf_counter() - started
    print(f"{args.encoder}: encoded {count} new images in {seconds:.0f}s; cache {cache.folder}")
    return 0
