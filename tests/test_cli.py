"""The command line: help for every option, input expansion, one-line errors instead of tracebacks."""

import json
import subprocess
import sys

import pytest

from captioner.cli import build_parser, main
from captioner.runtime.model.result import RESULT_KEYS
from captioner.runtime.batch.sources import expand_images
from captioner.errors import CaptionerError


def test_every_option_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"train", "self-critical", "evaluate", "caption", "extract-features", "serve", "models",
                               "export-onnx"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_expand_images_folder_glob_and_missing(flickr_images, tmp_path):
    for k, path in enumerate(flickr_images[:3]):
        (tmp_path / f"{k}.jpg").write_bytes(path.read_bytes())
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in expand_images([str(tmp_path)])] == ["0.jpg", "1.jpg", "2.jpg"]
    assert [p.name for p in expand_images([str(tmp_path / "[01].jpg")])] == ["0.jpg", "1.jpg"]
    with pytest.raises(CaptionerError, match="no such file"):
        expand_images([str(tmp_path / "nothing*.png")])


def test_a_folder_holds_every_format_the_web_app_decodes(flickr_images, tmp_path):
    from PIL import Image

    from captioner.runtime.data.images import load_image

    photo = Image.open(flickr_images[0]).convert("RGB").resize((64, 48))
    formats = {"a.ico": "ICO", "b.j2k": "JPEG2000", "c.jp2": "JPEG2000", "d.tga": "TGA", "e.pcx": "PCX",
               "f.ppm": "PPM", "g.JPG": "JPEG"}
    for name, fmt in formats.items():
        photo.save(tmp_path / name, fmt)
    found = expand_images([str(tmp_path)])
    assert sorted(p.name for p in found) == sorted(formats)
    for path in found:  # and each of them is an image the loader reads
        assert load_image(path).size[0] > 0


def test_caption_a_folder_with_the_shipped_model(flickr_images, tmp_path, capsys):
    for k, path in enumerate(flickr_images[:2]):
        (tmp_path / f"{k}.jpg").write_bytes(path.read_bytes())
    assert main(["caption", str(tmp_path), "--alternatives", "--beam-size", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(str(tmp_path / "0.jpg") + ": ") and len(out[0].split(": ", 1)[1].split()) >= 3
    assert len(out) == 2 * 3  # caption line + two alternatives, per image


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--dataset", "/nonexistent/flickr8k", "--no-meteor"], "dataset not found: /nonexistent/flickr8k"),
    (["caption", "/nonexistent/*.jpg"], "no such file, folder or matching files"),
    (["caption", "--model", "/nonexistent/model.pt", __file__], "model file not found"),
    (["train", "--dataset", "/nonexistent", "--output", "/tmp/never"], "dataset not found"),
])
def test_errors_are_one_line_without_traceback(argv, message):
    result = subprocess.run([sys.executable, "-m", "captioner.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_models_lists_the_default(capsys):
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("default")


def test_json_lines_output(flickr_images, capsys):
    assert main(["caption", "--json", str(flickr_images[0])]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source"] == str(flickr_images[0]) and record["caption"] and record["timings_ms"]["encode"] > 0
    assert set(record) == set(RESULT_KEYS) and record["image"] == {"width": 224, "height": 224}


def test_evaluate_a_coco_folder_reports_objects(coco_dev, tmp_path, capsys):
    out = tmp_path / "coco.json"
    code = main(["evaluate", "--dataset", str(coco_dev), "--split", "all", "--limit", "12", "--modes", "beam",
                 "--no-meteor", "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--output-json", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "grounding on" in text and "halluc." in text and "obj.rec." in text
    data = json.loads(out.read_text())
    report, captions = data["report"], data["captions"]
    assert report["images"] == 12 and report["split"] == "all" and report["grounding"] is True
    beam = report["results"]["beam"]
    # the rates are recomputed here from the captions the command wrote
    from captioner.evaluation.hallucination import object_scores

    again = object_scores({i: c["references"] for i, c in captions.items()}, {i: c["beam"] for i, c in captions.items()})
    assert beam["hallucinated_captions"] == again["hallucinated_captions"]
    assert beam["object_recall"] == again["object_recall"]
    assert 0 <= beam["coco"]["CIDEr"] and beam["coco"]["METEOR"] is None


def test_caption_with_and_without_grounding(coco_dev, capsys):
    bear = str(coco_dev / "images" / "000000000285.jpg")
    assert main(["caption", bear, "--concepts"]) == 0
    grounded = capsys.readouterr().out.splitlines()
    assert "bear" in grounded[0].split(": ", 1)[1].split() and grounded[1].strip().startswith("concepts: bear")
    assert main(["caption", bear, "--no-grounding", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["concepts"] is None and "bear" not in plain["caption"].split()


def test_train_flags_fill_the_nested_decoder_config(monkeypatch, tmp_path):
    import captioner.cli.train as command

    seen = {}
    monkeypatch.setattr(command, "run_training", lambda cfg, resume, progress: seen.setdefault("cfg", cfg) and tmp_path)
    assert main(["train", "--output", str(tmp_path / "r"), "--style", "add", "--hidden-dim", "64", "--epochs", "3"]) == 0
    cfg = seen["cfg"]
    assert cfg.decoder.style == "add" and cfg.decoder.hidden_dim == 64 and cfg.epochs == 3
    assert cfg.decoder.embed_dim == command.TrainConfig().decoder.embed_dim  # untouched fields keep the one default


def test_serve_flags_become_the_service_bounds():
    from captioner.cli.serve import serve_settings
    from captioner.serving.service import ServeSettings

    args = build_parser().parse_args(["serve", "--max-queue", "3", "--max-upload-bytes", "1000", "--header-timeout", "2.5",
                                      "--fetch-total-timeout", "4", "--max-pixels", "1000000"])
    settings = serve_settings(args)
    assert (settings.max_queue, settings.max_upload_bytes, settings.header_timeout) == (3, 1000, 2.5)
    assert settings.fetch.total_timeout == 4.0 and settings.max_pixels == 1_000_000
    assert settings.keep_alive == ServeSettings().keep_alive and not settings.fetch.allow_loopback
    with pytest.raises(CaptionerError, match="--max-queue must be positive"):
        serve_settings(build_parser().parse_args(["serve", "--max-queue", "0"]))


def test_self_critical_flags_fill_its_config(monkeypatch, tmp_path):
    import captioner.cli.train as command

    seen = {}
    monkeypatch.setattr(command, "finetune", lambda cfg, resume, progress: seen.setdefault("cfg", cfg) and tmp_path)
    assert main(["self-critical", "--output", str(tmp_path / "r"), "--lr", "1e-5", "--samples", "4", "--epochs", "2"]) == 0
    cfg = seen["cfg"]
    assert (cfg.lr, cfg.samples, cfg.epochs, cfg.model) == (1e-5, 4, 2, "default")


def test_presets_set_the_originals_recipes_and_flags_still_win(monkeypatch, tmp_path):
    import captioner.cli.train as command

    seen = []
    monkeypatch.setattr(command, "run_training", lambda cfg, resume, progress: seen.append(cfg) or tmp_path)
    assert main(["train", "--preset", "seed-densenet-concat", "--output", str(tmp_path / "a")]) == 0
    assert (seen[0].encoder, seen[0].decoder.style) == ("densenet201", "inject")
    assert main(["train", "--preset", "seed-xception", "--merge", "attention", "--output", str(tmp_path / "b")]) == 0
    assert (seen[1].encoder, seen[1].decoder.style) == ("xception", "attention")
    assert main(["train", "--preset", "seed-inception-add", "--output", str(tmp_path / "c")]) == 0
    assert (seen[2].encoder, seen[2].decoder.style) == ("inception-v3", "add")  # Google's graph, not Keras' weights
    assert (seen[2].decoder.embed_dim, seen[2].decoder.hidden_dim, seen[2].decoder.dropout) == (256, 256, 0.5)
    assert main(["train", "--preset", "seed-keras-inception-add", "--hidden-dim", "64", "--output", str(tmp_path / "d")]) == 0
    assert (seen[3].encoder, seen[3].decoder.hidden_dim, seen[3].decoder.embed_dim) == ("keras-inception-v3", 64, 256)


def test_models_lists_the_seed_xception_recipe(capsys):
    assert main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "encoder=xception" in rows["seed-xception"] and "style=add" in rows["seed-xception"]


def test_a_model_whose_encoder_weights_are_missing_says_how_to_install_them(monkeypatch, tmp_path, flickr_images, capsys):
    """seed-xception's decoder ships; without Keras' Xception weights it is a one-line error, never a random encoder."""
    from captioner.training.encoders import keras_apps

    monkeypatch.setattr(keras_apps, "packaged_weights", lambda spec: None)
    for name, value in (("KERAS_HOME", tmp_path / "keras"), ("CAPTIONER_CACHE_HOME", tmp_path / "cache"),
                        ("CAPTIONER_OFFLINE", "1")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("CAPTIONER_WEIGHTS_DIR", raising=False)
    assert main(["caption", "--model", "seed-xception", str(flickr_images[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: xception weights not found") and "install.sh --originals" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", [["--interpolate", "{x}", "0.5"], ["--language-model", "{x}"], ["--background-lm", "{x}"],
                                  ["--source-decoder", "1", "{x}"]])
def test_ship_model_never_writes_a_candidate_over_an_input(tmp_path, flag):
    """scripts/ship_model.py --to refuses a path that is any model it reads, and leaves that file alone."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    other = tmp_path / "other.pt"
    other.write_bytes((root / "captioner" / "models" / "lite2-add.pt").read_bytes())
    before = other.read_bytes()
    args = [a.format(x=other) for a in flag]
    run = subprocess.run([sys.executable, str(root / "scripts" / "ship_model.py"), str(root / "captioner" / "models" / "lite2-add.pt"),
                          "x", "--to", str(other), *args], capture_output=True, text=True, cwd=root)
    assert run.returncode != 0 and "that is an input" in run.stderr
    assert other.read_bytes() == before


def test_train_concepts_never_writes_over_its_keep_phrases_input(tmp_path):
    """scripts/train_concepts.py refuses an --output (default: the shipped file) that is its --keep-phrases file."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    kept = tmp_path / "concepts.npz"
    kept.write_bytes((root / "captioner" / "models" / "concepts-efficientnet-lite2.npz").read_bytes())
    before = kept.read_bytes()
    run = subprocess.run([sys.executable, str(root / "scripts" / "train_concepts.py"), "--flickr", str(tmp_path / "none"),
                          "--coco-train", str(tmp_path / "none"), "--keep-phrases", str(kept), "--output", str(kept)],
                         capture_output=True, text=True, cwd=root)
    assert run.returncode == 2 and "is the --keep-phrases file, an input" in run.stderr
    assert len(run.stderr.strip().splitlines()[-1:]) == 1 and kept.read_bytes() == before


def test_split_holdout_makes_the_mix_hold_out_a_validation_split(tmp_path, coco_dev):
    """scripts/split_holdout.py: a dataset whose val split is the photos `train --mix` holds out (seeded),
    its train split the rest, with every caption and image; it refuses to write into the dataset."""
    from pathlib import Path

    from captioner.runtime.data.datasets import load_dataset
    from captioner.training.data import holdout

    root = Path(__file__).resolve().parents[1]
    script = [sys.executable, str(root / "scripts" / "split_holdout.py")]
    run = subprocess.run([*script, str(coco_dev), str(tmp_path / "split"), "--holdout", "20", "--seed", "3"],
                         capture_output=True, text=True, cwd=root)
    assert run.returncode == 0, run.stderr
    original, split = load_dataset(str(coco_dev)), load_dataset(str(tmp_path / "split"))
    train, val = holdout(sorted(original.captions), 20, 3)
    assert split.split("val") == sorted(val) and split.split("train") == sorted(train) and split.split("test") == []
    assert split.captions == original.captions
    assert all(split.image_path(i).read_bytes() == original.image_path(i).read_bytes() for i in val)
    # again: the same files (the link is kept); and never into the dataset's own folder
    again = subprocess.run([*script, str(coco_dev), str(tmp_path / "split"), "--holdout", "20", "--seed", "3"],
                           capture_output=True, text=True, cwd=root)
    assert again.returncode == 0 and load_dataset(str(tmp_path / "split")).splits == split.splits
    copy = tmp_path / "coco"  # a copy of the dataset, so that a failure could not touch the shared one
    copy.mkdir()
    (copy / "captions.json").write_bytes((coco_dev / "captions.json").read_bytes())
    (copy / "images").symlink_to((coco_dev / "images").resolve(), target_is_directory=True)
    before = (copy / "captions.json").read_bytes()
    refused = subprocess.run([*script, str(copy), str(copy)], capture_output=True, text=True, cwd=root)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and "dataset's own folder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and (copy / "captions.json").read_bytes() == before
