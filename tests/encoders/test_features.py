"""The feature cache: resumable after an interruption, never half-written, bad images recorded."""

import numpy as np
import pytest

from captioner.data.images import load_image
from captioner.encoders.base import Encoder
from captioner.encoders.features import FeatureCache
from captioner.errors import CaptionerError


class CountingEncoder(Encoder):
    """A cheap stand-in with the real interface: features are the mean colour; can fail on demand."""

    name, input_size, feature_dim, grid_size = "counting", 8, 3, 2

    def __init__(self, fail_after: int | None = None):
        self.calls, self.images, self.fail_after = 0, 0, fail_after

    def scale(self, pixels):
        return pixels / 255.0

    def encode(self, batch):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # what a user's Ctrl-C looks like mid-extraction
        self.calls += 1
        self.images += len(batch)
        grid = batch.reshape(len(batch), 4, 16, 3).mean(axis=2)  # (B, 4, 3)
        return grid.mean(axis=1), grid


@pytest.fixture
def items(flickr_images):
    return [(p.name, p) for p in flickr_images]


def test_interrupted_extraction_resumes_without_redoing_work(tmp_path, items):
    cache = FeatureCache(tmp_path, "counting")
    with pytest.raises(KeyboardInterrupt):
        cache.extract(CountingEncoder(fail_after=2), items, batch_size=2, shard_size=2, progress=False)
    assert len(cache.shards()) == 2 and not list(cache.folder.glob("*.partial"))
    assert len(cache.cached_ids()) == 4
    encoder = CountingEncoder()
    assert cache.extract(encoder, items, batch_size=2, shard_size=2, progress=False) == len(items) - 4
    assert encoder.images == len(items) - 4
    assert cache.extract(CountingEncoder(), items, progress=False) == 0  # nothing recomputed
    pooled, grid = cache.load([i for i, _ in items][::-1], with_grid=True)
    assert pooled.shape == (len(items), 3) and grid.shape == (len(items), 4, 3)
    encoder = CountingEncoder()
    fresh, _ = encoder.encode(encoder.preprocess(load_image(items[-1][1]))[None])
    np.testing.assert_allclose(pooled[0], fresh[0], atol=1e-3)  # rows follow the requested order


def test_bad_images_are_recorded_and_skipped(tmp_path, items):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    cache = FeatureCache(tmp_path / "cache", "counting")
    cache.extract(CountingEncoder(), items[:2] + [("broken.jpg", broken)], progress=False)
    assert set(cache.failed_ids()) == {"broken.jpg"}
    assert cache.extract(CountingEncoder(), [("broken.jpg", broken)], progress=False) == 0
    with pytest.raises(CaptionerError, match="1 of 3 images have no cached"):
        cache.load([items[0][0], items[1][0], "broken.jpg"])
