#!/usr/bin/env bash
# The shipped model's captions (with alternatives and concepts) on coco-dev and the first 200
# Flickr8k test photos, as JSON lines: run before and after a refactor and `cmp` the two files.
#   scripts/snapshot_captions.sh MODEL OUT.jsonl [SHARED_DATA]
set -euo pipefail
model=$1 out=$2 data=${3:-../shared/data}
list=$(mktemp --suffix=.txt)
head -n 200 "$data/flickr8k/Flickr_8k.testImages.txt" | tr -d '\r' | sed "s|^|$data/flickr8k/images/|" > "$list"
{
  .venv/bin/captioner caption --model "$model" --json --concepts "$data/coco-dev/images"
  .venv/bin/captioner caption --model "$model" --json --concepts "$list"
} > "$out"
rm -f "$list"
wc -l "$out"
