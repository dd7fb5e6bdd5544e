#!/usr/bin/env python
"""Check an inference-only install (`pip install .`, no torch): caption a photo three ways.

    python -m venv /tmp/lite && /tmp/lite/bin/pip install . && /tmp/lite/bin/python scripts/check_torch_free.py PHOTO

1. `captioner caption PHOTO` prints a caption; 2. the Python API captions it and torch was never
imported; 3. `captioner serve` answers one upload with a caption. Exits non-zero on any failure.
(.ci/run runs it in a second, torch-free environment.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    photo = Path(sys.argv[1])
    bin_dir = Path(sys.executable).parent
    try:
        import torch  # noqa: F401

        raise SystemExit("torch is installed here: this check needs an inference-only environment")
    except ImportError:
        pass
    out = subprocess.run([str(bin_dir / "captioner"), "caption", str(photo)], capture_output=True, text=True, check=True)
    print("cli:", out.stdout.strip())
    assert out.stdout.strip().startswith(f"{photo}: ") and len(out.stdout.split()) > 3, out

    import captioner

    result = captioner.load()(str(photo))
    print("api:", result.caption, {k: v for k, v in result.timings_ms.items()})
    assert result.caption and "torch" not in sys.modules

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(bin_dir / "captioner"), "serve", "--port", str(port)])
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        answer = httpx.post(f"http://127.0.0.1:{port}/api/caption", files={"file": (photo.name, photo.read_bytes())},
                            timeout=60)
        print("serve:", answer.status_code, answer.json().get("caption"))
        assert answer.status_code == 200 and answer.json()["caption"]
        runtime = httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=10).json()
        assert runtime["decoder"]["runtime"] == "OnnxDecoder", runtime
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("inference without torch: ok")


if __name__ == "__main__":
    main()
