"""A model's files, resolved once: the bundle, its SHA-256 and where its export is."""

import hashlib

import pytest

from captioner.errors import CaptionerError
from captioner.runtime.model.files import bundle_digest, onnx_folder, resolve_files, resolve_model, shipped_models
from captioner.settings import SHIPPED_DIR


def test_names_and_paths_resolve_to_the_bundle(tmp_path):
    assert "default" in shipped_models() and resolve_model(None) == SHIPPED_DIR / "default.pt"
    assert resolve_model("default") == resolve_model(SHIPPED_DIR / "default.pt")
    with pytest.raises(CaptionerError) as info:
        resolve_model("nope")
    assert str(info.value) == f"unknown model 'nope'; shipped models: {', '.join(shipped_models())}"
    with pytest.raises(CaptionerError, match="^model file not found: .*missing.pt$"):
        resolve_model(tmp_path / "missing.pt")


def test_the_digest_and_the_export_folders(tmp_path, monkeypatch):
    model = tmp_path / "mine.pt"
    model.write_bytes(b"x" * (3 << 20))  # larger than one read chunk
    monkeypatch.setenv("CAPTIONER_CACHE_HOME", str(tmp_path / "cache"))
    files = resolve_files(model)
    assert files.digest == bundle_digest(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert files.beside == onnx_folder(model) == tmp_path / "mine.onnx"
    assert files.cached == tmp_path / "cache" / "onnx" / "decoders" / files.digest[:16]
    assert files.export_folders == (files.beside, files.cached)
    assert files.decoder_folder == files.cached  # nothing beside it
    files.beside.mkdir()
    assert files.decoder_folder == files.beside
    shipped = resolve_files("default")
    assert shipped.decoder_folder == SHIPPED_DIR / "default.onnx"


def test_without_shipped_models_the_error_says_none(tmp_path, monkeypatch):
    import captioner.runtime.model.files as files

    monkeypatch.setattr(files, "SHIPPED_DIR", tmp_path)
    with pytest.raises(CaptionerError) as info:
        resolve_model("default")
    assert str(info.value) == "unknown model 'default'; shipped models: none"
