"""The encoder's ONNX export: uint8 pixels in; pooled features, grid and ImageNet probabilities out, in one run."""

import json
import shutil

import numpy as np
import pytest

from captioner.runtime.data.images import load_image
from captioner.runtime.model.files import resolve_model
from captioner.runtime.model.exported import ExportedEncoder
from captioner.runtime.model.files import onnx_folder


@pytest.fixture(scope="module")
def shipped():
    path = resolve_model("default")
    return path, ExportedEncoder(onnx_folder(path), path)


def test_the_shipped_export_scales_pools_and_classifies_as_the_pytorch_encoder_and_numpy_did(shipped, flickr_images):
    from captioner.runtime.grounding.grounding import load_grounder
    from captioner.training.encoders import create_encoder

    _, exported = shipped
    images = [load_image(p) for p in flickr_images[:3]]
    pixels = np.stack([exported.preprocess(img) for img in images])
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 260, 260, 3)  # preprocess only resizes
    pooled, grid, probs = exported.encode_with_classes(pixels)
    assert pooled.shape == (3, 1280) and grid.shape == (3, 81, 1280) and probs.shape == (3, 1000)
    np.testing.assert_allclose(grid.mean(axis=1), pooled, atol=1e-5)  # the pooled vector is the grid's mean
    torch_encoder = create_encoder("efficientnet-lite2")
    want_pooled, want_grid = torch_encoder.encode(np.stack([torch_encoder.preprocess(img) for img in images]))
    np.testing.assert_allclose(pooled, want_pooled, atol=0.05, rtol=0.02)  # float16-stored trunk weights
    np.testing.assert_allclose(grid, want_grid, atol=0.1, rtol=0.05)
    grounder = load_grounder(exported)  # the head in encoder.npz, applied in numpy
    np.testing.assert_allclose(probs, grounder.class_probabilities(pooled), atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [p.tolist() for p in exported.encode(pixels)] == [pooled.tolist(), grid.tolist()]


def test_scaled_float_pixels_given_to_a_uint8_export_are_a_clear_error(shipped, flickr_images):
    _, exported = shipped
    floats = np.stack([exported.scale(exported.preprocess(load_image(flickr_images[0])).astype(np.float32))])
    with pytest.raises(ValueError, match="takes the uint8 pixels of `preprocess`"):
        exported.encode(floats)


def test_an_older_export_with_float_input_and_no_head_in_the_graph_still_runs(shipped, flickr_images, tmp_path):
    """Exports cached before the scaling and head moved into the graph: the trunk alone on scaled
    float pixels, with the head applied by the grounder."""
    import onnx

    from captioner.training.encoders import create_encoder
    from captioner.training.encoders.onnx import export_trunk
    from captioner.runtime.model.runners import META_KEY

    path, exported = shipped
    folder = tmp_path / "default.onnx"
    shutil.copytree(onnx_folder(path), folder)
    export_trunk(create_encoder("efficientnet-lite2"), folder / "encoder.onnx")
    old = onnx.load(str(folder / "encoder.onnx"))
    meta = json.loads(exported.session.get_modelmeta().custom_metadata_map[META_KEY])
    del meta["input"]
    onnx.helper.set_model_props(old, {META_KEY: json.dumps(meta)})
    onnx.save(old, str(folder / "encoder.onnx"))
    legacy = ExportedEncoder(folder, path)
    image = load_image(flickr_images[0])
    pixels = np.stack([legacy.preprocess(image)])
    assert not legacy.takes_uint8 and pixels.dtype == np.float32
    pooled, grid, probs = legacy.encode_with_classes(pixels)
    assert probs is None
    new_pooled, new_grid, _ = exported.encode_with_classes(np.stack([exported.preprocess(image)]))
    np.testing.assert_allclose(pooled, new_pooled, atol=0.05, rtol=0.02)  # float32 trunk against float16-stored
    np.testing.assert_allclose(grid, new_grid, atol=0.1, rtol=0.05)
