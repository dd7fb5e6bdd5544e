import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from captioner.runtime.data.datasets import load_coco_json, load_dataset, load_flickr8k, load_kaggle
from captioner.errors import CaptionerError


def test_flickr8k_official_split_and_bad_line_reported(flickr_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_flickr8k(flickr_root)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 6000, "val": 1000, "test": 1000}
    assert len(ds.captions) == 8091
    assert all(len(c) == 5 for c in ds.captions.values())
    bad = [p for p in ds.problems if "2258277193_586949ec62.jpg.1" in p]
    assert len(bad) == 5 and bad[0].startswith("Flickr8k.token.txt:6731:")
    assert "Flickr8k.token.txt:6731" in caplog.text


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (8, 8), (200, 10, 10)).save(folder / name)


def test_kaggle_layout_reports_bad_rows(tmp_path):
    _images(tmp_path / "Images", [f"im{i}.jpg" for i in range(10)])
    rows = ["image,caption"] + [f'im{i}.jpg,"A dog, running fast."' for i in range(10)] + ["missing.jpg,a cat", "im1.jpg"]
    (tmp_path / "captions.txt").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path)
    assert ds.captions["im3.jpg"] == ["A dog, running fast."]
    assert any("captions.txt:12" in p and "missing.jpg" in p for p in ds.problems)
    assert any("captions.txt:13" in p for p in ds.problems)
    assert sorted(sum(ds.splits.values(), [])) == sorted(ds.captions)
    assert not set(ds.splits["train"]) & set(ds.splits["test"])


def test_kaggle_wrong_header_is_a_clear_error(tmp_path):
    _images(tmp_path / "Images", ["a.jpg"])
    (tmp_path / "captions.txt").write_text("file\tcaption\na.jpg\ta dog\n")
    with pytest.raises(CaptionerError, match="captions.txt:1"):
        load_kaggle(tmp_path)


def test_coco_and_karpathy_json(tmp_path):
    _images(tmp_path / "images", ["x.jpg", "y.jpg"])
    coco = {"images": [{"id": 1, "file_name": "x.jpg"}, {"id": 2, "file_name": "y.jpg"}],
            "annotations": [{"image_id": 1, "caption": "a red square"}, {"image_id": 2, "caption": "another one"},
                            {"image_id": 9, "caption": "orphan"}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    ds = load_dataset(tmp_path / "coco.json")
    assert ds.captions == {"x.jpg": ["a red square"], "y.jpg": ["another one"]}
    assert any("annotations[2]" in p for p in ds.problems)
    karpathy = {"images": [{"filename": "x.jpg", "split": "train", "sentences": [{"raw": "a red square"}]},
                           {"filename": "y.jpg", "split": "test", "sentences": [{"tokens": ["red", "box"]}]}]}
    (tmp_path / "k.json").write_text(json.dumps(karpathy))
    ds = load_coco_json(tmp_path / "k.json")
    assert ds.splits["train"] == ["x.jpg"] and ds.splits["test"] == ["y.jpg"]
    assert ds.captions["y.jpg"] == ["red box"]


def test_a_coco_folder_with_bad_lines_reports_file_line_reason_and_goes_on(tmp_path):
    _images(tmp_path / "images", ["x.jpg", "y.jpg"])
    (tmp_path / "captions.json").write_text(
        '{"info": {"year": 2014, "note": ["a", {"b": "]"}]},\n'
        ' "images": [{"id": 1, "file_name": "x.jpg"},\n'
        '            {"id": 2, "file_name": "y.jpg"}, {"id": 3, "file_name": "gone.jpg"}],\n'
        ' "annotations": [\n'
        '  {"image_id": 1, "caption": "a red square"},\n'
        '  {"image_id": 2, "caption": 7},\n'
        '  "not an object",\n'
        '  {"image_id": 3, "caption": "its photo is gone"},\n'
        '  {"image_id": 2, "caption": "   "}, {"image_id": 2, "caption": "a blue square"}\n'
        ' ]}')
    ds = load_dataset(tmp_path)
    assert ds.captions == {"x.jpg": ["a red square"], "y.jpg": ["a blue square"]}
    assert ds.problems == ["captions.json:6: annotations[1] has no known image_id or no caption",
                           "captions.json:7: annotations[2] has no known image_id or no caption",
                           "captions.json:8: annotations[3]: image gone.jpg does not exist",
                           "captions.json:9: annotations[4] has no known image_id or no caption"]


def test_invalid_json_names_file_and_line(tmp_path):
    _images(tmp_path / "images", ["x.jpg"])
    (tmp_path / "bad.json").write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(CaptionerError, match=r"bad.json:2"):
        load_coco_json(tmp_path / "bad.json")


def test_missing_dataset_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CaptionerError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(CaptionerError, match="not a dataset"):
        load_dataset(tmp_path)
