"""Compare two caption snapshots (scripts/snapshot_captions.sh): the same photos, captions,
alternatives (with scores) and concepts, line by line. Exit 1 if anything differs.

    .venv/bin/python scripts/compare_snapshots.py runs/snap-before.jsonl runs/snap-after.jsonl
"""

from __future__ import annotations

import json
import sys


def rows(path: str) -> list[tuple]:
    out = []
    with open(path) as handle:
        for line in handle:
            r = json.loads(line)
            source = r.get("source") or r.get("image")  # snapshots taken before the result type named it "source"
            out.append((source, r["caption"], json.dumps(r["alternatives"]), json.dumps(r["concepts"], sort_keys=True)))
    return out


def main() -> int:
    before, after = rows(sys.argv[1]), rows(sys.argv[2])
    fields = ("photos", "captions", "alternatives", "concepts")
    same = {name: [r[k] for r in before] == [r[k] for r in after] for k, name in enumerate(fields)}
    print(f"{len(before)} vs {len(after)} photos; " + ", ".join(f"{k} {'identical' if v else 'DIFFER'}" for k, v in same.items()))
    return 0 if len(before) == len(after) and all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
