#!/usr/bin/env python
"""The same training run in 1 process and in N data-parallel processes (torchrun, same effective batch):
per-epoch losses side by side, and seconds per epoch.

    .venv/bin/python scripts/bench_ddp.py --dataset ../shared/data/flickr8k [--nproc 2] [--limit-images 600] [--epochs 3]

Both runs see the same global batches (each of the N ranks takes 1/N of every batch, gradients are
averaged), so their loss curves should agree within the noise of dropout and summation order.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(nproc: int, args, out: Path) -> list[dict]:
    command = [sys.executable, "-m", "captioner", "train", "--nproc", str(nproc), "--device", args.device,
               "--dataset", args.dataset, "--output", str(out / f"run{nproc}"), "--cache-dir", args.cache_dir,
               "--limit-images", str(args.limit_images), "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--patience", "100", "--no-progress"]
    if nproc > 1:
        command += ["--threads", "1"]
    subprocess.run(command, check=True)
    return json.loads((out / f"run{nproc}" / "history.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/flickr8k")
    parser.add_argument("--cache-dir", default="cache/features")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--limit-images", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args, Path(tmp))
        many = run(args.nproc, args, Path(tmp))
    print(f"{'epoch':>5} {'train loss 1p':>14} {f'{args.nproc}p':>8} {'val loss 1p':>12} {f'{args.nproc}p':>8} "
          f"{'s/epoch 1p':>11} {f'{args.nproc}p':>8}")
    for a, b in zip(one, many):
        print(f"{a['epoch']:>5} {a['train_loss']:>14.4f} {b['train_loss']:>8.4f} {a['val_loss']:>12.4f} "
              f"{b['val_loss']:>8.4f} {a['seconds']:>11.1f} {b['seconds']:>8.1f}")
    print(f"ranks in sync every epoch: {all(h.get('ranks_in_sync', False) for h in many)}")


if __name__ == "__main__":
    main()
