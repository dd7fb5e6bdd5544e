#!/usr/bin/env python
"""A run's last checkpoint as a model file, the way training writes model.pt for its best epoch.

    .venv/bin/python scripts/checkpoint_model.py runs/everyday-w5 runs/w5-e2.pt

`captioner train` keeps model.pt for the epoch its own validation liked best; this gives the last
epoch instead (to be chosen on other data, e.g. the coco-train hold-out): the checkpoint's decoder
with the start model's open-vocabulary words back (training/init.py `finish`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from captioner.runtime.data.vocab import Vocabulary
from captioner.training.bundle import ModelBundle, load_bundle, save_bundle
from captioner.training.init import Start, finish
from captioner.training.networks.config import DecoderConfig
from captioner.training.networks.styles import build_decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder with last.pt (and start.pt when it started from a model)")
    parser.add_argument("output", help="the model file to write")
    args = parser.parse_args()
    run, output = Path(args.run), Path(args.output)
    if output.resolve().parent == run.resolve():
        raise SystemExit(f"{output}: write it outside the run folder, whose files training owns")
    try:
        checkpoint = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
        decoder = build_decoder(DecoderConfig.from_dict(checkpoint["decoder_config"]))
        decoder.load_state_dict(checkpoint["model"])
    except (OSError, KeyError, RuntimeError) as exc:
        raise SystemExit(f"{run / 'last.pt'}: not a usable training checkpoint ({type(exc).__name__}: {exc})") from None
    vocab = Vocabulary(checkpoint["vocab"])
    info = {"train_config": checkpoint["train_config"], "epoch": checkpoint["epoch"], "from_checkpoint": str(run / "last.pt")}
    encoder = {"name": checkpoint["train_config"]["encoder"]}
    if (run / "start.pt").is_file():  # the start's open-vocabulary words back, rows from their tuned neighbours
        start = load_bundle(run / "start.pt")
        decoder, vocab, grown = finish(decoder.eval(), vocab, Start(decoder, start.info.get("open_vocabulary", []),
                                                                    start.info.get("init_from", "")))
        info.update(grown)
        encoder = start.encoder
    save_bundle(output, ModelBundle(decoder.eval(), vocab, encoder, info))
    print(f"{output}: epoch {checkpoint['epoch']}, {len(vocab)} words")


if __name__ == "__main__":
    main()
