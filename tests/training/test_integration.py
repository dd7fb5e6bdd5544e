"""Train a tiny model for a few steps on real Flickr8k images, then caption through the CLI."""

import json
from dataclasses import replace

import pytest
import torch

from captioner.cli import main
from captioner.training.bundle import load_bundle
from captioner.training.networks.config import DecoderConfig
from captioner.training.config import TrainConfig
from captioner.training.trainer import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, flickr_root):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(dataset=str(flickr_root), output=str(out / "run"), cache_dir=str(out / "cache"),
                      limit_images=20, epochs=2, batch_size=16, min_count=2, threads=2, device="cpu",
                      decoder=DecoderConfig(0, 0, style="attention", embed_dim=32, hidden_dim=64, attention_dim=32))
    return cfg, train(cfg, progress=False)


def test_training_writes_checkpoint_history_and_model(tiny_run):
    cfg, model_path = tiny_run
    run = model_path.parent
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert all(h["device"] == "cpu" for h in history)  # the device it trained on, in the log
    assert (run / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "val_bleu4" in (run / "history.csv").read_text().splitlines()[0]
    bundle = load_bundle(model_path)
    assert bundle.encoder["name"] == "efficientnet-lite2"
    assert bundle.info["train_config"]["limit_images"] == 20
    assert not list(run.glob("*.partial"))
    assert all(h["world_size"] == 1 and "ranks_in_sync" not in h for h in history)  # one process: nothing to compare
    assert [h["step"] for h in history] == [history[0]["step"], 2 * history[0]["step"]] and history[0]["step"] > 0
    assert history[0]["lr"] == cfg.lr and history[0]["seconds"] >= 0
    checkpoint = torch.load(run / "last.pt", weights_only=False)
    assert history[0]["best"] is True  # the first epoch always improves on nothing
    if history[1]["val_bleu4"] != history[0]["val_bleu4"]:  # (rounded to 4 places in the history)
        assert history[1]["best"] == (history[1]["val_bleu4"] > history[0]["val_bleu4"])
    assert bundle.info["epoch"] == (2 if history[1]["best"] else 1)
    best = history[bundle.info["epoch"] - 1]
    assert bundle.info["val_loss"] == pytest.approx(best["val_loss"], abs=1e-4)
    assert bundle.info["val_bleu4_greedy"] == pytest.approx(best["val_bleu4"], abs=1e-4)
    assert checkpoint["epoch"] == 2 and checkpoint["step"] == history[1]["step"] and checkpoint["history"] == history
    assert checkpoint["best"] == pytest.approx(max(h["val_bleu4"] for h in history), abs=1e-4)  # stop_on bleu4
    assert checkpoint["bad_epochs"] == (0 if history[1]["best"] else 1)
    assert checkpoint["vocab"] == bundle.vocab.words and checkpoint["train_config"]["epochs"] == 2
    assert checkpoint["decoder_config"]["hidden_dim"] == 64 and checkpoint["decoder_config"]["vocab_size"] == len(bundle.vocab)
    for key, value in bundle.decoder.state_dict().items():
        if history[1]["best"]:
            # the best is the last: the same weights, as the float16 bundle stores them
            assert torch.equal(checkpoint["model"][key].half().float(), value.float()), key


def test_resume_gives_the_weights_of_an_uninterrupted_run(tiny_run, tmp_path):
    cfg, _ = tiny_run  # reuses its feature cache; the fixture's own run is left alone
    whole = replace(cfg, output=str(tmp_path / "whole"), epochs=3, patience=10)
    train(whole, progress=False)
    stopped = replace(whole, output=str(tmp_path / "stopped"), epochs=1)
    train(stopped, progress=False)
    train(replace(stopped, epochs=3), resume=True, progress=False)
    history = json.loads((tmp_path / "stopped" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "stopped" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"]
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"]
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-6), key
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in a["history"]]


def test_training_stops_after_patience_epochs_without_improvement(tiny_run, tmp_path):
    cfg, _ = tiny_run
    frozen = replace(cfg, output=str(tmp_path / "frozen"), lr=0.0, epochs=6, patience=2)  # nothing can improve
    train(frozen, progress=False)
    history = json.loads((tmp_path / "frozen" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3] and [h["best"] for h in history] == [True, False, False]
    assert torch.load(tmp_path / "frozen" / "last.pt", weights_only=False)["bad_epochs"] == 2


def test_existing_run_needs_resume_flag(tiny_run):
    cfg, _ = tiny_run
    from captioner.errors import CaptionerError

    with pytest.raises(CaptionerError, match="--resume"):
        train(cfg, resume=False, progress=False)


def test_cli_captions_images_with_the_trained_model(tiny_run, flickr_images, capsys, tmp_path):
    _, model_path = tiny_run
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    code = main(["caption", "--model", str(model_path), "--json", "--beam-size", "2",
                 str(flickr_images[0]), str(flickr_images[1]), str(bad)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # one file failed, the others were captioned
    ok = [r for r in lines if r["error"] is None]
    assert len(ok) == 2 and all(r["caption"] and len(r["alternatives"]) == 2 for r in ok)
    assert [r["source"] for r in lines] == [str(flickr_images[0]), str(flickr_images[1]), str(bad)]
    assert "not an image" in lines[2]["error"] and lines[2]["caption"] == ""


def test_cli_evaluate_prints_all_metrics(tiny_run, flickr_root, tmp_path, capsys):
    cfg, model_path = tiny_run
    out = tmp_path / "captions.json"
    code = main(["evaluate", "--model", str(model_path), "--dataset", str(flickr_root), "--cache-dir", cfg.cache_dir,
                 "--limit", "20", "--no-meteor", "--output-json", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    for name in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr", "nltk"):
        assert name in text
    report = json.loads(out.read_text())
    assert report["report"]["images"] == 20 and len(report["captions"]) == 20


def test_the_last_checkpoint_becomes_a_model_file(tiny_run, tmp_path, monkeypatch):
    import runpy
    import sys
    from pathlib import Path

    cfg, model_path = tiny_run
    run = model_path.parent
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "checkpoint_model.py")
    monkeypatch.setattr(sys, "argv", ["checkpoint_model.py", str(run), str(tmp_path / "last.pt")])
    runpy.run_path(script, run_name="__main__")
    checkpoint = torch.load(run / "last.pt", weights_only=False)
    bundle = load_bundle(tmp_path / "last.pt")
    assert bundle.vocab.words == checkpoint["vocab"] and bundle.info["epoch"] == checkpoint["epoch"] == 2
    for key, value in checkpoint["model"].items():  # float16 in the file
        torch.testing.assert_close(bundle.decoder.state_dict()[key], value.float(), atol=2e-3, rtol=1e-3)
    monkeypatch.setattr(sys, "argv", ["checkpoint_model.py", str(run), str(run / "x.pt")])
    with pytest.raises(SystemExit, match="outside the run folder"):
        runpy.run_path(script, run_name="__main__")
    assert not (run / "x.pt").exists()
