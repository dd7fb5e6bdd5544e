"""The feature cache: resumable after an interruption, never half-written, bad images recorded."""

import numpy as np
import pytest

from captioner.runtime.data.images import load_image
from captioner.runtime.encoders.base import Encoder
from captioner.training.encoders.features import FeatureCache
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


def test_the_cache_describes_its_encoder_or_says_to_extract_first(tmp_path, items):
    cache = FeatureCache(tmp_path, "counting")
    with pytest.raises(CaptionerError) as info:
        cache.encoder_info()
    assert str(info.value) == f"{tmp_path / 'counting'} has no encoder.json: extract features first"
    assert cache.extract(CountingEncoder(), items[:1], progress=False) == 1
    assert cache.encoder_info() == {"name": "counting", "input_size": 8, "feature_dim": 3, "grid_size": 2}
    with pytest.raises(CaptionerError) as info:
        FeatureCache(tmp_path, "other").extract(CountingEncoder(), items, progress=False)
    assert str(info.value) == "cache is for other, encoder is counting"


def test_batches_and_shards_are_bounded_and_rows_come_back_in_any_order(tmp_path, items):
    seen = []

    class Recording(CountingEncoder):
        def encode(self, batch):
            seen.append(len(batch))
            return super().encode(batch)

    cache = FeatureCache(tmp_path, "counting")
    assert cache.extract(Recording(), items[:5], batch_size=2, shard_size=3, progress=False) == 5
    assert seen == [2, 1, 2]  # batches never cross a shard: 3 + 2 images
    assert len(cache.shards()) == 2 and cache.cached_ids() == {i for i, _ in items[:5]}
    order = [items[k][0] for k in (4, 0, 3)]
    pooled, grid = cache.load(order)
    assert grid is None and pooled.dtype == np.float16 and pooled.shape == (3, 3)
    expected = [CountingEncoder().encode(CountingEncoder().preprocess(load_image(items[k][1]))[None])[0][0]
                for k in (4, 0, 3)]
    np.testing.assert_allclose(pooled, np.stack(expected), atol=2e-3)


def test_a_cache_without_grids_says_so_when_grids_are_asked_for(tmp_path, items):
    cache = FeatureCache(tmp_path, "counting")
    cache.extract(CountingEncoder(), items[:2], keep_grid=False, progress=False)
    pooled, grid = cache.load([items[1][0]])
    assert pooled.shape == (1, 3) and grid is None
    with pytest.raises(CaptionerError) as info:
        cache.load([items[1][0]], with_grid=True)
    assert str(info.value) == f"{cache.shards()[0]} has no grid features; re-extract with the grid kept"
    with pytest.raises(CaptionerError) as info:
        cache.load(["nope.jpg"])
    assert str(info.value) == f"1 of 1 images have no cached counting features in {cache.folder}"


def test_a_shard_of_only_bad_images_writes_no_shard_but_records_them(tmp_path, items):
    bad = [(f"bad{k}.jpg", tmp_path / f"bad{k}.jpg") for k in range(2)]
    for _, path in bad:
        path.write_bytes(b"not an image")
    cache = FeatureCache(tmp_path / "cache", "counting")
    assert cache.extract(CountingEncoder(), bad + items[:1], shard_size=2, progress=False) == 1
    assert len(cache.shards()) == 1 and set(cache.failed_ids()) == {"bad0.jpg", "bad1.jpg"}
    assert cache.failed_ids()["bad0.jpg"] == f"{bad[0][1]}: not an image (unknown or unsupported format)"


def test_extraction_shows_a_progress_bar_in_images(tmp_path, items, capsys):
    FeatureCache(tmp_path, "counting").extract(CountingEncoder(), items[:3], progress=True)
    err = capsys.readouterr().err
    assert "features counting" in err and "3/3" in err and "img" in err
    FeatureCache(tmp_path / "quiet", "counting").extract(CountingEncoder(), items[:3], progress=False)
    assert capsys.readouterr().err == ""


class _Dataset:
    def __init__(self, items):
        self.paths = dict(items)

    def image_path(self, image_id):
        return self.paths[image_id]


def test_ensure_features_extracts_only_what_is_missing_and_keeps_weights_apart(tmp_path, items, monkeypatch):
    from captioner.training.encoders import features as registry
    from captioner.training.encoders.features import ensure_features

    made = []

    def create(name, weights=None):
        made.append((name, weights))
        encoder = CountingEncoder()
        encoder.describe = lambda: {**CountingEncoder.describe(encoder), **({"weights": "random"} if weights == "random" else {})}
        return encoder

    monkeypatch.setattr(registry, "create_encoder", create)
    dataset = _Dataset(items)
    ids = [i for i, _ in items[:3]]
    cache = ensure_features(dataset, ids[:2], "counting", str(tmp_path), progress=False)
    assert cache.cached_ids() == set(ids[:2]) and made == [("counting", None)]
    ensure_features(dataset, ids[:2], "counting", str(tmp_path), progress=False)
    assert len(made) == 1  # nothing missing: no encoder built
    ensure_features(dataset, ids, "counting", str(tmp_path), progress=False)
    assert cache.cached_ids() == set(ids) and len(cache.shards()) == 2
    with pytest.raises(CaptionerError) as info:
        ensure_features(dataset, ids, "counting", str(tmp_path), encoder_weights="random", progress=False)
    assert str(info.value) == (f"{tmp_path / 'counting'} holds features of trained weights, not random ones: "
                               "use another --cache-dir")
    ensure_features(dataset, ids[:1], "counting", str(tmp_path / "r"), encoder_weights="random", progress=False)
    with pytest.raises(CaptionerError) as info:
        ensure_features(dataset, ids[:1], "counting", str(tmp_path / "r"), progress=False)
    assert str(info.value) == (f"{tmp_path / 'r' / 'counting'} holds features of random weights, not trained ones: "
                               "use another --cache-dir")
