#!/usr/bin/env python
"""Where a captioner's hallucinated objects come from: the words grounding made the caption say, or
the decoder on its own.

    captioner caption ../shared/data/coco-dev/images --json --concepts > runs/coco-dev-concepts.jsonl
    .venv/bin/python scripts/hallucination_sources.py runs/coco-dev-concepts.jsonl ../shared/data/coco-dev [--list]

For each photo (matched to the dataset by file name), every COCO object kind the caption names that
no reference names (captioner/evaluation/hallucination.py) is counted as "required" when a required
word names that kind, else "free"; and per decoder (main or everyday), the photos with one. --list
prints each such caption with its required words and detected concepts.
"""

import argparse
import collections
import json
from pathlib import Path

from captioner.runtime.data.datasets import load_dataset
from captioner.runtime.data.objects import load_object_table, objects_in, objects_named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("captions", help="JSON lines of `captioner caption --json --concepts`")
    parser.add_argument("dataset", help="the photos' dataset (COCO-format folder or captions.json)")
    parser.add_argument("--list", action="store_true", help="print each hallucinated caption")
    args = parser.parse_args()
    table = load_object_table()
    references = load_dataset(args.dataset).captions
    sources, photos, kinds = collections.Counter(), collections.Counter(), collections.Counter()
    for line in Path(args.captions).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        name = Path(str(row["source"])).name
        if row.get("error") or name not in references:
            continue
        concepts = row.get("concepts") or {}
        truth = objects_in(references[name], table)
        wrong = objects_named(row["caption"], table) - truth
        required = set().union(set(), *(objects_named(w, table) for w in concepts.get("required", [])))
        photos[(concepts.get("decoder", "main"), bool(wrong))] += 1
        for kind in sorted(wrong):
            sources["required" if kind in required else "free"] += 1
            kinds[kind] += 1
            if args.list:
                detected = {d["concept"]: d["score"] for d in concepts.get("detected", []) if d["score"] >= 0.1}
                print(f"{name}: {row['caption']} | {kind} ({'required' if kind in required else 'free'}) | "
                      f"required {concepts.get('required', [])} | detected {detected}")
    print(f"hallucinated mentions: {sum(sources.values())}, of them required by grounding {sources['required']}, "
          f"free {sources['free']}")
    for decoder in sorted({d for d, _ in photos}):
        total = photos[(decoder, True)] + photos[(decoder, False)]
        print(f"decoder {decoder}: {photos[(decoder, True)]} of {total} photos hallucinate")
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))


if __name__ == "__main__":
    main()
