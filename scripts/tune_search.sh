#!/usr/bin/env bash
# Choose beam width and length penalty on the validation split (never on test).
#   CAPTIONER_DATASET=../shared/data/flickr8k scripts/tune_search.sh runs/lite2-attention/model.pt
set -euo pipefail
cd "$(dirname "$0")/.."
for k in 3 5 7; do for a in 0.3 0.7 1.0 1.3; do
  echo "beam $k alpha $a: $(.venv/bin/captioner evaluate --model "$1" --split val --modes beam --beam-size $k \
    --length-penalty $a --no-meteor --output-json '' --no-progress | grep "^beam")"
done; done
