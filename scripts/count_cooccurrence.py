#!/usr/bin/env python
"""Count which grounding words COCO's captions name in the same photo, for `second_cooccurrence`.

    .venv/bin/python scripts/count_cooccurrence.py --coco-text ../shared/data/coco-text/captions.json

Writes captioner/runtime/grounding/cooccurrence.tsv (or --output): the words are the ImageNet
table's and every COCO kind's first name, the candidates grounding may require.
"""

import argparse
import time

from captioner.atomic import write_text
from captioner.runtime.grounding.grounding import candidate_words
from captioner.runtime.grounding.tables import COOCCURRENCE
from captioner.training.cooccurrence import count_cooccurrence, format_table, read_image_captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco-text", required=True, help="COCO-format captions JSON with image ids")
    parser.add_argument("--output", default=str(COOCCURRENCE))
    args = parser.parse_args()
    started = time.time()
    captions = read_image_captions(args.coco_text)
    words = candidate_words()
    images, pairs = count_cooccurrence(captions, words)
    write_text(args.output, format_table(images, pairs, f"{len(captions)} photos' captions ({args.coco_text})"))
    print(f"{len(words)} words over {len(captions)} photos -> {args.output} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
