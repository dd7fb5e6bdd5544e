"""Inference never imports torch: the CLI, the Python API and the web app run on ONNX Runtime alone."""

import subprocess
import sys


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_python_api_captions_without_importing_torch(flickr_images):
    out = _run(f"""
import sys, captioner
model = captioner.load()
result = model({str(flickr_images[0])!r})
results = model([{str(flickr_images[1])!r}, b"not an image"])
print(result.caption, "|", results[0].caption, "|", results[1].error is not None, "|", "torch" in sys.modules)
""")
    first, second, bad_failed, torch_loaded = (part.strip() for part in out.split("|"))
    assert len(first.split()) >= 3 and len(second.split()) >= 3
    assert bad_failed == "True" and torch_loaded == "False"


def test_web_app_answers_without_importing_torch(flickr_images):
    out = _run(f"""
import sys
from fastapi.testclient import TestClient
from captioner.serving.app import create_app
client = TestClient(create_app())
answer = client.post("/api/caption", files={{"file": ("a.jpg", open({str(flickr_images[2])!r}, "rb").read())}})
print(answer.status_code, client.get("/api/model").json()["decoder"]["runtime"], "torch" in sys.modules)
""")
    assert out.split() == ["200", "OnnxDecoder", "False"]


def test_cli_captions_without_importing_torch(flickr_images):
    out = _run(f"""
import sys
from captioner.cli import main
code = main(["caption", {str(flickr_images[3])!r}])
print("exit", code, "torch" in sys.modules)
""")
    assert out.splitlines()[0].startswith(str(flickr_images[3]) + ": ")
    assert out.splitlines()[-1] == "exit 0 False"
