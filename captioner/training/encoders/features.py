"""Extract features for a whole dataset once, in shards, so that an interrupted run resumes.

Layout: <cache_root>/<encoder name>/shard-00000.npz ... each holding ids, pooled (N, D) and grid
(N, cells, D) as float16. A shard is written to a temp file and renamed, so it is whole or absent.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from tqdm import tqdm

from captioner.atomic import atomic_path, write_json
from captioner.runtime.data.images import load_image
from captioner.runtime.encoders.base import RANDOM_WEIGHTS, Encoder
from captioner.errors import CaptionerError, ImageError
from captioner.training.encoders import create_encoder
from captioner.training.encoders.onnx import maybe_onnx

if TYPE_CHECKING:
    from captioner.runtime.data.datasets import Dataset

log = logging.getLogger(__name__)


class FeatureCache:
    def __init__(self, root: str | Path, encoder_name: str):
        self.folder = Path(root) / encoder_name
        self.encoder_name = encoder_name

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz"))

    def cached_ids(self) -> set[str]:
        ids: set[str] = set()
        for shard in self.shards():
            with np.load(shard) as data:
                ids.update(str(i) for i in data["ids"])
        return ids

    def encoder_info(self) -> dict:
        """What the encoder said of itself when it filled this cache (name, sizes)."""
        path = self.folder / "encoder.json"
        if not path.is_file():
            raise CaptionerError(f"{self.folder} has no encoder.json: extract features first")
        return json.loads(path.read_text())

    def failed_ids(self) -> dict[str, str]:
        path = self.folder / "failed.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def extract(
        self,
        encoder: Encoder,
        items: Iterable[tuple[str, Path]],
        batch_size: int = 32,
        shard_size: int = 512,
        keep_grid: bool = True,
        progress: bool = True,
    ) -> int:
        """Encode every (id, path) not cached yet; returns how many were newly encoded."""
        if encoder.name != self.encoder_name:
            raise CaptionerError(f"cache is for {self.encoder_name}, encoder is {encoder.name}")
        done = self.cached_ids()
        failed = self.failed_ids()
        todo = [(i, p) for i, p in items if i not in done and i not in failed]
        if not todo:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.folder / "encoder.json", encoder.describe())
        encoded = 0
        bar = tqdm(total=len(todo), desc=f"features {encoder.name}", unit="img", disable=not progress)
        for start in range(0, len(todo), shard_size):
            chunk = todo[start : start + shard_size]
            ids, pooled, grids = [], [], []
            for b in range(0, len(chunk), batch_size):
                pixels, batch_ids = [], []
                for image_id, path in chunk[b : b + batch_size]:
                    try:
                        pixels.append(encoder.preprocess(load_image(path)))
                        batch_ids.append(image_id)
                    except ImageError as exc:
                        failed[image_id] = str(exc)
                        log.warning("skipped %s", exc)
                if pixels:
                    p, g = encoder.encode(np.stack(pixels))  # (B, D), (B, cells, D)
                    ids.extend(batch_ids)
                    pooled.append(p.astype(np.float16))
                    if keep_grid:
                        grids.append(g.astype(np.float16))
                bar.update(len(chunk[b : b + batch_size]))
            if ids:
                arrays = {"ids": np.array(ids), "pooled": np.concatenate(pooled)}
                if keep_grid:
                    arrays["grid"] = np.concatenate(grids)
                # unique names, so two extraction runs sharing a cache never overwrite each other
                with atomic_path(self.folder / f"shard-{time.time_ns():x}-{os.getpid()}.npz") as tmp:
                    with open(tmp, "wb") as handle:
                        np.savez(handle, **arrays)
                encoded += len(ids)
            if failed:
                write_json(self.folder / "failed.json", failed)
        bar.close()
        return encoded

    def load(self, ids: list[str], with_grid: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows for `ids` in order: pooled (N, D) and, if asked, grid (N, cells, D), float16."""
        wanted = {image_id: row for row, image_id in enumerate(ids)}
        pooled: np.ndarray | None = None
        grid: np.ndarray | None = None
        found = 0
        for shard in self.shards():
            with np.load(shard) as data:
                shard_ids = [str(i) for i in data["ids"]]
                rows = [(k, wanted[i]) for k, i in enumerate(shard_ids) if i in wanted]
                if not rows:
                    continue
                src, dst = (np.array(r) for r in zip(*rows))
                shard_pooled = data["pooled"]
                if pooled is None:
                    pooled = np.zeros((len(ids), shard_pooled.shape[1]), np.float16)
                pooled[dst] = shard_pooled[src]
                if with_grid:
                    if "grid" not in data:
                        raise CaptionerError(f"{shard} has no grid features; re-extract with the grid kept")
                    shard_grid = data["grid"]
                    if grid is None:
                        grid = np.zeros((len(ids),) + shard_grid.shape[1:], np.float16)
                    grid[dst] = shard_grid[src]
                found += len(rows)
        if found != len(ids) or pooled is None:
            raise CaptionerError(
                f"{len(ids) - found} of {len(ids)} images have no cached {self.encoder_name} features in {self.folder}"
            )
        return pooled, grid


def ensure_features(dataset: "Dataset", image_ids: list[str], encoder_name: str, cache_dir: str,
                    encoder_weights: str | None = None, progress: bool = True) -> FeatureCache:
    """Extract (once) the features of `image_ids` that the cache does not hold yet."""
    cache = FeatureCache(cache_dir, encoder_name)
    random_wanted = str(encoder_weights) == RANDOM_WEIGHTS
    if (cache.folder / "encoder.json").is_file() and (cache.encoder_info().get("weights") == RANDOM_WEIGHTS) != random_wanted:
        raise CaptionerError(f"{cache.folder} holds features of {'random' if not random_wanted else 'trained'} weights, "
                             f"not {'random' if random_wanted else 'trained'} ones: use another --cache-dir")
    missing = set(image_ids) - cache.cached_ids() - set(cache.failed_ids())
    if missing:
        encoder = maybe_onnx(create_encoder(encoder_name, encoder_weights))
        cache.extract(encoder, [(i, dataset.image_path(i)) for i in sorted(missing)], progress=progress)
    return cache
