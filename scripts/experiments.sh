#!/usr/bin/env bash
# The runs behind the README's results table, in the order they were made (2 CPU cores, no GPU).
# Each step is resumable: extraction skips cached images, training continues with --resume.
#   CAPTIONER_DATASET=../shared/data/flickr8k scripts/experiments.sh [RUN...]
set -uo pipefail
cd "$(dirname "$0")/.."
cap=(.venv/bin/captioner -v)
train() {  # NAME ARGS...: train into runs/NAME (resuming if it exists), then score it on the test split
  local name=$1; shift
  local resume=(); [ -f "runs/$name/last.pt" ] && resume=(--resume)
  "${cap[@]}" train --output "runs/$name" --no-progress "${resume[@]}" "$@" 2>&1 | tee -a "runs/$name.log" | grep -a "epoch\|error"
  "${cap[@]}" evaluate --model "runs/$name/model.pt" --output-json "runs/$name/test-captions.json" --no-progress \
    > "runs/$name/test.txt" 2>> "runs/$name.log"
  cat "runs/$name/test.txt"
}
want() { [ $# -eq 0 ] || [[ " ${RUNS} " == *" $1 "* ]]; }
RUNS="$*"
mkdir -p runs
want extract-lite2 && "${cap[@]}" extract-features --encoder efficientnet-lite2
want lite2-attention && train lite2-attention --merge attention --epochs 15
want extract-inception && "${cap[@]}" extract-features --encoder inception-v3
want lite2-inject && train lite2-inject --merge inject --epochs 8 --patience 2
want inception-inject && train inception-inject --encoder inception-v3 --merge inject --epochs 8 --patience 2
want lite2-add && train lite2-add --merge add --epochs 8 --patience 2
want lite2-inject-glove-frozen && train lite2-inject-glove-frozen --merge inject --embeddings glove-frozen --epochs 8 --patience 2
want lite2-inject-glove-finetune && train lite2-inject-glove-finetune --merge inject --embeddings glove-finetune --epochs 8 --patience 2
want inception-attention && train inception-attention --encoder inception-v3 --merge attention --epochs 7
