"""evaluate's report never lands on or in the dataset it scores."""

import pytest

from captioner.errors import CaptionerError
from captioner.evaluation.evaluate import refuse_dataset_file, report_path


def test_the_report_goes_to_a_run_folder_or_the_cache_never_into_the_dataset(tmp_path, monkeypatch):
    dataset = tmp_path / "coco-dev"
    (dataset / "images").mkdir(parents=True)
    (dataset / "captions.json").write_text("{}")
    monkeypatch.setenv("CAPTIONER_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert report_path(str(dataset), "all", None) == "runs/evaluate/coco-dev-all-default.json"
    assert report_path(str(dataset / "captions.json"), "all", "runs/x/model.pt") == "runs/evaluate/coco-dev-all-model.json"
    monkeypatch.chdir(dataset)  # run inside the dataset folder: `captioner evaluate --dataset . --split all`
    assert report_path(".", "all", None) == str(tmp_path / "cache" / "evaluate" / "coco-dev-all-default.json")
    for inside in ("captions.json", "images/report.json", str(dataset / "new.json")):
        with pytest.raises(CaptionerError, match="inside the dataset"):
            refuse_dataset_file(inside, ".")
    with pytest.raises(CaptionerError, match="inside the dataset"):
        refuse_dataset_file(str(dataset / "captions.json"), str(dataset / "captions.json"))
    refuse_dataset_file(str(tmp_path / "elsewhere.json"), ".")  # outside: fine
