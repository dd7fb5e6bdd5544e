"""Batch outputs: CSV / JSON lines / Parquet files that resume, .txt sidecars, captions written into images."""

import csv
import io
import json
import shutil

import piexif
import pytest
from PIL import Image

from captioner.cli import main
from captioner.errors import ImageError
from captioner.runtime.batch.metadata import write_caption_metadata


@pytest.fixture
def folder(tmp_path, flickr_images):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in flickr_images[:3]:
        shutil.copy(p, photos / p.name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return photos


def _rows(path):
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(path.read_text())))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_output_files_hold_every_image_and_a_second_run_skips_them(folder, tmp_path, suffix, capsys):
    out = tmp_path / f"captions{suffix}"
    assert main(["caption", str(folder), "--output", str(out), "--beam-size", "2"]) == 1  # one image is broken
    rows = _rows(out)
    assert sorted(r["source"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    broken = next(r for r in rows if r["source"].endswith("broken.jpg"))
    assert broken["error"] and not broken["caption"]
    good = [r for r in rows if not r["error"]]
    assert len(good) == 3 and all(len(r["caption"].split()) >= 3 for r in good)
    alternatives = good[0]["alternatives"]
    alternatives = json.loads(alternatives) if isinstance(alternatives, str) else alternatives
    assert len(alternatives) == 2 and alternatives[0]["caption"] == good[0]["caption"]
    assert not list(tmp_path.glob("*.partial*"))
    capsys.readouterr()
    assert main(["caption", str(folder), "--output", str(out)]) == 0
    assert "4 of 4 images are already in" in capsys.readouterr().err
    assert len(_rows(out)) == 4


def test_an_interrupted_jsonl_resumes_without_losing_or_repeating_rows(folder, tmp_path):
    out = tmp_path / "captions.jsonl"
    main(["caption", str(folder), "--output", str(out)])
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])  # killed while writing the third row
    main(["caption", str(folder), "--output", str(out)])
    rows = _rows(out)
    assert sorted(r["source"] for r in rows) == sorted(str(p) for p in folder.iterdir())  # each once


def test_sidecars_and_metadata_copies(folder, tmp_path):
    copies = tmp_path / "copies"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    main(["caption", str(folder), "--sidecar", "--write-metadata", "--metadata-dir", str(copies)])
    for name, data in before.items():
        assert (folder / name).read_bytes() == data  # originals untouched
        if name == "broken.jpg":
            assert not (folder / "broken.txt").exists() and not (copies / name).exists()
            continue
        caption = (folder / name).with_suffix(".txt").read_text().strip()
        copy = Image.open(copies / name)
        assert copy.getexif()[270] == caption and caption.encode() in copy.info["xmp"]
        assert copy.convert("RGB").tobytes() == Image.open(folder / name).convert("RGB").tobytes()


def test_metadata_keeps_other_exif_and_xmp_and_replaces_its_own(tmp_path, flickr_images):
    photo = tmp_path / "p.jpg"
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Orientation: 6}})
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/>'
           b"</rdf:RDF></x:xmpmeta>")
    Image.open(flickr_images[0]).save(photo, exif=exif, xmp=xmp, quality=90)
    write_caption_metadata(photo, "a dog runs")
    write_caption_metadata(photo, "a dog & a cat")  # replaces, never repeats
    image = Image.open(photo)
    tags = image.getexif()
    assert tags[270] == "a dog & a cat" and tags[271] == "Canon" and tags[274] == 6
    packet = image.info["xmp"]
    assert b'xmp:Rating="4"' in packet and b"a dog &amp; a cat" in packet and packet.count(b"<dc:description>") == 1

    png = tmp_path / "p.png"
    Image.open(flickr_images[1]).save(png)
    write_caption_metadata(png, "a png")
    again = Image.open(png)
    again.load()
    assert again.getexif()[270] == "a png" and "a png" in again.info["XML:com.adobe.xmp"]


def test_unsupported_or_damaged_files_are_refused_and_left_intact(tmp_path, flickr_images, monkeypatch):
    gif = tmp_path / "a.gif"
    Image.open(flickr_images[0]).save(gif)
    with pytest.raises(ImageError, match="JPEG and PNG files only"):
        write_caption_metadata(gif, "x")
    photo = tmp_path / "b.jpg"
    shutil.copy(flickr_images[0], photo)
    original = photo.read_bytes()
    import captioner.runtime.batch.metadata as metadata

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(metadata, "_jpeg", lambda data, caption: data[:100] + crash())
    with pytest.raises(OSError):
        write_caption_metadata(photo, "x")
    assert photo.read_bytes() == original and not list(tmp_path.glob("*.tmp"))
