"""The public Python API: one call takes any image input, a list in gives a list out."""

import io
import pathlib
import re
import sys

import numpy as np
import pytest
from PIL import Image

import captioner
from captioner.errors import CaptionerError, ImageError
from captioner.runtime.model.result import RESULT_KEYS

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return captioner.load()


def _bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def test_every_input_kind_gives_the_same_caption(model, flickr_images):
    path = flickr_images[1]
    photo = Image.open(path)
    expected = model(str(path)).caption
    assert len(expected.split()) >= 3
    inputs = {
        "str": str(path), "Path": path, "bytes": path.read_bytes(), "bytearray": bytearray(path.read_bytes()),
        "file": open(path, "rb"), "PIL": photo, "array": np.asarray(photo.convert("RGB")),
    }
    for kind, source in inputs.items():
        result = model(source)
        assert isinstance(result, captioner.CaptionResult), kind
        assert result.caption == expected, kind
    inputs["file"].close()


def test_every_pillow_mode_and_array_layout(model, flickr_images):
    photo = Image.open(flickr_images[0]).convert("RGB")
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    sixteen = Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257))
    assert sixteen.mode.startswith("I;16")
    images = [rgba, photo.convert("LA"), photo.convert("P"), photo.convert("L"), sixteen, photo.convert("CMYK"),
              np.asarray(photo.convert("L")), np.asarray(photo, np.float32) / 255.0, np.asarray(rgba)]
    for result in model(images):
        assert result.error is None and result.caption, result.error


def test_exif_rotation_is_applied_to_pil_inputs(model, flickr_images):
    photo = Image.open(flickr_images[0]).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; display rotates it back
    stored = Image.open(io.BytesIO(_bytes(photo.rotate(-90, expand=True), "JPEG", quality=95, exif=exif.tobytes())))
    upright = Image.open(io.BytesIO(_bytes(photo, "JPEG", quality=95)))
    assert model(stored).caption == model(upright).caption


def test_heic_and_avif_photos(model, flickr_images):
    photo = Image.open(flickr_images[1]).convert("RGB")
    expected_words = set(model(photo).caption.split())
    for fmt in ("HEIF", "AVIF"):
        data = _bytes(photo, fmt, quality=90)
        result = model(data)
        assert result.caption, fmt
        assert len(expected_words & set(result.caption.split())) >= 2, (fmt, result.caption)


def test_a_list_mixing_good_and_bad_inputs(model, flickr_images, tmp_path):
    missing = tmp_path / "missing.jpg"
    results = model([flickr_images[0], b"not an image", str(missing), np.zeros((2, 2, 7)), 42, flickr_images[2]],
                    beam_size=2)
    assert [bool(r.caption) for r in results] == [True, False, False, False, False, True]
    assert "not an image" in results[1].error and "no such file" in results[2].error
    assert "shape" in results[3].error and "cannot caption a int" in results[4].error
    assert len(results[0].alternatives) == 2 and results[0].error is None
    assert set(results[1].to_dict()) == set(RESULT_KEYS)


def test_stream_keeps_order_across_batches_and_bad_inputs_fail_alone(model, flickr_images, monkeypatch):
    import captioner.runtime.api as api

    real = api.read_image

    def reader(source, policy=None):  # one input breaks the reader in an unexpected way
        if source == "explode":
            raise RuntimeError("reader bug")
        return real(source, policy)

    monkeypatch.setattr(api, "read_image", reader)
    sources = [flickr_images[0], b"junk", flickr_images[1], "explode", flickr_images[2], flickr_images[0]]
    streamed = list(model.stream(iter(sources), beam_size=2, batch_size=2, workers=2))
    assert [r.error is None for r in streamed] == [True, False, True, False, True, True]
    assert "reader bug" in streamed[3].error and "not an image" in streamed[1].error
    alone = [model(flickr_images[k], beam_size=2).caption for k in (0, 1, 2)]
    assert [streamed[k].caption for k in (0, 2, 4, 5)] == [alone[0], alone[1], alone[2], alone[0]]


def test_single_bad_inputs_raise_one_line_errors(model):
    for bad, message in ((b"", "empty"), (b"junk", "not an image"), ("/nonexistent.png", "no such file"),
                         (io.StringIO("text"), "binary mode"), (np.ones((4, 4)) * np.nan, "NaN"),
                         ("http://127.0.0.1:9/x.jpg", "loopback")):
        with pytest.raises(ImageError, match=message) as caught:
            model(bad)
        assert "\n" not in str(caught.value)
    with pytest.raises(CaptionerError, match="at least 1"):
        model(b"x", beam_size=0)


def test_urls_go_through_the_web_apps_guard(image_host, flickr_images):
    from captioner.runtime.data.fetch import FetchPolicy

    model = captioner.CaptionModel(captioner.load().captioner, FetchPolicy(allow_loopback=True))
    result = model(f"{image_host}/hop/1")
    assert result.caption == model(flickr_images[0]).caption
    with pytest.raises(ImageError, match="private address"):  # a redirect to 10.x is refused
        model(f"{image_host}/to-private")


def test_options_and_results(model, coco_dev):
    bear = coco_dev / "images" / "000000000285.jpg"
    grounded = model(bear, attention=True)
    assert "bear" in grounded.caption.split() and grounded.concepts["required"][0] == "bear"
    assert grounded.timings_ms["encode"] > 0 and not hasattr(grounded, "timings")
    assert [a["word"] for a in grounded.attention] == grounded.caption.split()
    plain = model(bear, grounding=False, beam_size=1, max_length=4)
    assert plain.concepts is None and len(plain.caption.split()) <= 4 and len(plain.alternatives) == 1
    assert model.metadata["vocabulary_size"] > model.metadata["open_vocabulary"] > 0


def test_importing_captioner_is_light():
    import subprocess

    code = "import sys, captioner; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_readme_python_example_runs_as_written(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(example, "README.md", "exec"), {})
