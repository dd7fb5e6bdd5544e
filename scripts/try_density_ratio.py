"""Density-ratio fusion, measured (an experiment; nothing here ships): on the photos where the
default fuses its COCO language model, subtract a language model of Flickr8k's own captions, so
the search is pushed away from what Flickr8k's captions say everywhere ("black and white", "in the
water") and towards what COCO's say (McDermott et al. 2019, "A density ratio approach to language
model fusion"):

    score(w) = log p_decoder(w) + lm_weight * (log p_COCO-LM(w) - beta * log p_Flickr-LM(w))

beta 0 is the shipped default. Grounded beam 5 on coco-dev, the coco-train hold-out and Flickr8k val:

    .venv/bin/python scripts/train_language_model.py default --texts runs/flickr-train-captions.json \
        --epochs 2 --output runs/lm-flickr.pt
    .venv/bin/python scripts/try_density_ratio.py --flickr-lm runs/lm-flickr.pt --betas 0 0.2 0.4 \
        --coco ../shared/data/coco-dev --holdout ../shared/data/coco-train --flickr ../shared/data/flickr8k
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioner.evaluation.evaluate import ALL, HOLDOUT, EvalData, score_captions  # noqa: E402
from captioner.runtime.data.datasets import load_dataset  # noqa: E402
from captioner.runtime.grounding.grounding import GroundingConfig  # noqa: E402
from captioner.runtime.search import SearchConfig  # noqa: E402
from captioner.settings import Settings  # noqa: E402
from captioner.training.bundle import load_bundle  # noqa: E402
from captioner.training.networks.torch_runner import TorchRunner  # noqa: E402


class RatioLM:
    """Two language models as one numpy runner: log p_a - beta * log p_b, their states side by side."""

    numpy_io = True
    uses_grid = False

    def __init__(self, a, b, beta: float):
        self.a, self.b, self.beta, self.parts = a, b, beta, None

    def init_state(self, batch: int):
        first = tuple(self.a.init_state(batch))
        self.parts = len(first)
        return first + tuple(self.b.init_state(batch))

    def step(self, tokens, state):
        logp_a, new_a = self.a.step(tokens, state[: self.parts])
        logp_b, new_b = self.b.step(tokens, state[self.parts :])
        return logp_a - self.beta * logp_b, tuple(new_a) + tuple(new_b)

    step.broadcasts = True  # each part is per row, as the language models' own states are


def flickr_captions_json(flickr: str, out: Path) -> None:
    """Flickr8k's training captions as a COCO-format JSON (what train_language_model.py reads)."""
    dataset = load_dataset(flickr)
    annotations = [{"caption": c} for i in dataset.split("train") for c in dataset.captions[i]]
    out.write_text(json.dumps({"annotations": annotations}))
    print(f"{len(annotations)} Flickr8k training captions -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--flickr-lm", help="a bundle whose language model was trained on Flickr8k's captions")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.2, 0.4])
    parser.add_argument("--coco", help="coco-dev folder (split all)")
    parser.add_argument("--holdout", help="coco-train folder (its training hold-out)")
    parser.add_argument("--flickr", help="Flickr8k folder (split val)")
    parser.add_argument("--cache-dir", default=Settings.feature_cache)
    parser.add_argument("--write-flickr-captions", default=None, help="only write Flickr8k's training captions here")
    args = parser.parse_args()
    if args.write_flickr_captions:
        flickr_captions_json(args.flickr, Path(args.write_flickr_captions))
        return
    flickr_lm = TorchRunner(load_bundle(args.flickr_lm).language_model)
    sets = [(name, folder, split) for name, folder, split in
            (("coco-dev", args.coco, ALL), ("hold-out", args.holdout, HOLDOUT), ("flickr8k val", args.flickr, "val")) if folder]
    for name, folder, split in sets:
        data = EvalData.prepare(args.model, load_dataset(folder), split, args.cache_dir, progress=False)
        coco_lm = data.language_model
        for beta in args.betas:
            data.language_model = coco_lm if beta == 0 else RatioLM(coco_lm, flickr_lm, beta)
            texts = data.captions(SearchConfig(), False, GroundingConfig())
            scores = score_captions(data, texts, meteor=split == "val")
            coco, watched = scores, scores["phrases"]["watched"]
            meteor = f" METEOR {coco['METEOR']:.4f}" if coco.get("METEOR") is not None else ""
            print(f"{name:<13} beta {beta:<4} BLEU-4 {coco['BLEU-4']:.4f}{meteor} CIDEr {coco['CIDEr']:.4f} "
                  f"halluc {scores['hallucinated_captions']:.1%} recall {scores['object_recall']:.1%} "
                  f"'black and white' {watched['black and white']['ours']:.1%} "
                  f"'in the water' {watched['in the water']['ours']:.1%}", flush=True)


if __name__ == "__main__":
    main()
