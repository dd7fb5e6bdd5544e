#!/usr/bin/env bash
# In-process caption speed of an earlier commit against the working tree, runs alternated so both
# see the same machine (a shared VM's speed drifts by 10-20% within minutes):
#     scripts/ab_inference.sh COMMIT [ROUNDS=4] [FLICKR=../shared/data/flickr8k]
# Prints, per round and side, the bare encoder and the greedy / beam 5 captions (scripts/bench_inference.py).
set -euo pipefail
commit=$1; rounds=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
flickr=$(cd "${3:-$root/../shared/data/flickr8k}" && pwd)
python=$root/.venv/bin/python
old=$(mktemp -d)/old
git -C "$root" worktree add -q --detach "$old" "$commit"
trap 'git -C "$root" worktree remove --force "$old"' EXIT
for round in $(seq 1 "$rounds"); do
  for side in "$old" "$root"; do
    name=$([ "$side" = "$root" ] && echo "working tree" || echo "$commit")
    (cd "$side" && PYTHONPATH="$side" "$python" scripts/bench_inference.py --flickr "$flickr" --skip-cli --skip-folder \
      --skip-server | grep -E "encoder forward|full caption" | sed 's/^ *//' | paste -sd'|' | sed "s/^/round $round, $name: /")
  done
done
