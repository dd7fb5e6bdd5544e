"""`captioner train` and `captioner self-critical`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import fields, replace

from captioner.training.config import DECODER_FIELDS, PRESETS, SelfCriticalConfig, TrainConfig
from captioner.training.self_critical import finetune
from captioner.training.trainer import distributed_world, train as run_training


def train(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # launch the data-parallel run
        argv = list(args.argv)
        k = argv.index("--nproc") if "--nproc" in argv else next(n for n, a in enumerate(argv) if a.startswith("--nproc="))
        del argv[k : k + (1 if "=" in argv[k] else 2)]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                   "-m", "captioner", *argv]
        return subprocess.call(command)
    if args.preset:
        given = {a.split("=", 1)[0] for a in args.argv if a.startswith("--")}
        for key, value in PRESETS[args.preset].items():
            flags = {"--" + key.replace("_", "-")} | ({"--merge"} if key == "style" else set())
            if not flags & given:  # a flag given explicitly keeps its value
                setattr(args, key, value)
    decoder = replace(TrainConfig().decoder, **{name: getattr(args, name) for name in DECODER_FIELDS})
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "decoder"},
                         decoder=decoder)
    path = run_training(config, resume=args.resume, progress=not args.no_progress)
    if distributed_world()[0] == 0:
        print(f"best model: {path}")
    return 0


def self_critical(args: argparse.Namespace) -> int:
    config = SelfCriticalConfig(**{f.name: getattr(args, f.name) for f in fields(SelfCriticalConfig)})
    path = finetune(config, resume=args.resume, progress=not args.no_progress)
    print(f"best model: {path}")
    return 0
