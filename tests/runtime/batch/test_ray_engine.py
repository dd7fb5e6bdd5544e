"""Batch captioning on Ray Data: the local engine's captions, rows for bad inputs, a resumable output file."""

import json

import pytest

from captioner.cli import main
from captioner.errors import CaptionerError
from tests.conftest import needs

try:
    import ray

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False


@pytest.fixture(scope="module")
def local_ray():
    needs(HAVE_RAY, "Ray (pip install '.[ray]')")
    from captioner.runtime.batch.ray_engine import connect

    connect(None, num_cpus=2)
    yield
    ray.shutdown()


def test_ray_captions_100_photos_as_the_local_engine_does(local_ray, flickr_root, tmp_path, capsys):
    names = (flickr_root / "Flickr_8k.testImages.txt").read_text().split()[:100]
    photos = [str(flickr_root / "images" / n) for n in names]
    listing = tmp_path / "photos.csv"
    listing.write_text("image,note\n" + "".join(f"{p},x\n" for p in photos) + f"{tmp_path / 'missing.jpg'},x\n")
    out = tmp_path / "captions.jsonl"
    assert main(["caption", str(listing), "--engine", "ray", "--output", str(out), "--beam-size", "3"]) == 1
    rows = {r["source"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(rows) == 101 and "No such file" in rows[str(tmp_path / "missing.jpg")]["error"]

    import captioner

    local = captioner.load()(photos, beam_size=3)
    assert [rows[p]["caption"] for p in photos] == [r.caption for r in local]
    assert all(len(rows[p]["alternatives"]) == 3 and rows[p]["error"] is None for p in photos)
    capsys.readouterr()
    assert main(["caption", str(listing), "--engine", "ray", "--output", str(out)]) == 0  # nothing left to do
    assert "101 of 101 images are already in" in capsys.readouterr().err


def test_an_unreachable_cluster_is_a_one_line_error():
    needs(HAVE_RAY, "Ray (pip install '.[ray]')")
    from captioner.runtime.batch.ray_engine import connect

    with pytest.raises(CaptionerError, match="does not answer"):
        connect("127.0.0.1:1")
