"""Data-parallel training with torchrun on the CPU (gloo): two processes, one run, identical weights."""

import json
import subprocess
import sys


def _train(flickr_root, out, *extra):
    command = [sys.executable, "-m", "captioner", "train", "--nproc", "2", "--device", "cpu", "--threads", "1",
               "--dataset", str(flickr_root), "--output", str(out / "run"), "--cache-dir", str(out / "cache"),
               "--limit-images", "24", "--batch-size", "16", "--min-count", "2", "--embed-dim", "32",
               "--hidden-dim", "64", "--attention-dim", "32", "--no-progress", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_cpu_processes_train_one_model_and_resume(flickr_root, tmp_path):
    done = _train(flickr_root, tmp_path, "--epochs", "2")
    assert done.stdout.count("best model:") == 1  # rank 0 alone reports and writes
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["world_size"] == 2 and h["ranks_in_sync"] for h in history)  # gradients were averaged
    assert history[1]["train_loss"] < history[0]["train_loss"]
    from captioner.training.bundle import load_bundle

    assert load_bundle(tmp_path / "run" / "model.pt").info["train_config"]["limit_images"] == 24
    _train(flickr_root, tmp_path, "--epochs", "3", "--resume")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[2]["ranks_in_sync"]
