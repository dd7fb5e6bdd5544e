"""The training loop: teacher forcing on whole padded sequences, masked loss, Adam, early stopping.

Under torchrun (RANK / WORLD_SIZE set: `torchrun --nproc_per_node=N -m captioner train ...` or
`captioner train --nproc N`) the same loop runs data-parallel (DDP; gloo on CPU, NCCL on CUDA):
every rank walks the same global batches and takes its share of each, gradients are averaged, so
a run keeps the effective batch `batch_size` whatever N is; rank 0 alone extracts features,
validates and writes files, and every epoch checks that all ranks hold identical weights.

Files in the run folder (all written atomically):
  last.pt        full checkpoint (model, optimiser, history) for --resume
  model.pt       best model so far as a shippable bundle (see inference/bundle.py)
  start.pt       with --init-from: the start model grown to the run's vocabulary, before training
                 (scripts/ship_model.py --interpolate averages the result with it)
  history.csv/.json, loss_curve.png
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import os
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.nn import functional as F
from tqdm import tqdm

from captioner.atomic import atomic_path, write_json, write_text
from captioner.training.sequences import teacher_forcing_pair
from captioner.training.networks.base import Decoder
from captioner.training.networks.styles import build_decoder, uses_grid
from captioner.training.networks.glove import glove_matrix
from captioner.runtime.search import SearchConfig
from captioner.training.encoders.features import FeatureCache
from captioner.errors import CaptionerError
from captioner.training.bundle import ModelBundle, save_bundle
from captioner.runtime.search.captions import caption_features, shift_features, to_text
from captioner.training.networks.torch_runner import TorchRunner
from captioner.training.devices import torch_device
from captioner.training.scores import coco_scores
from captioner.training.config import TrainConfig
from captioner.training.data import SplitData, batches, prepare
from captioner.training.init import finish, with_sources, with_start_config

log = logging.getLogger(__name__)


def sequence_loss(decoder: Decoder, pooled, grid, tokens, cfg: TrainConfig) -> torch.Tensor:
    """Mean cross-entropy over real (non-padding) next-word targets, plus the attention penalty."""
    inputs, targets = teacher_forcing_pair(tokens)  # (B, T-1) each
    logits, alphas = decoder(pooled, grid, inputs)  # (B, T-1, V), (B, T-1, L) | None
    mask = targets != 0
    loss = F.cross_entropy(logits[mask].float(), targets[mask], label_smoothing=cfg.label_smoothing)
    if alphas is not None and cfg.attention_reg > 0:
        coverage = (alphas * mask.unsqueeze(2)).sum(1)  # (B, L): attention each cell got over the caption
        loss = loss + cfg.attention_reg * ((1.0 - coverage) ** 2).mean()
    return loss


def _to(device, *tensors):
    return tuple(t.to(device, non_blocking=True) if t is not None else None for t in tensors)


@torch.no_grad()
def validation_loss(decoder: Decoder, split: SplitData, cfg: TrainConfig) -> float:
    decoder.eval()
    device = next(decoder.parameters()).device
    total, count = 0.0, 0
    for batch in batches(split, 256, shuffle=False, seed=0):
        pooled, grid, tokens, sources = _to(device, *batch)
        if sources is not None:  # a decoder trained with caption sources: each photo's shift
            pooled, grid = decoder.shift(pooled, grid, sources)
        inputs, targets = teacher_forcing_pair(tokens)
        logits, _ = decoder(pooled, grid, inputs)
        mask = targets != 0
        total += F.cross_entropy(logits[mask], targets[mask], reduction="sum").item()
        count += int(mask.sum())
    return total / max(count, 1)


def validation_bleu(decoder: Decoder, vocab, split: SplitData) -> float:
    offsets = decoder.source_offsets if split.sources is not None else None
    pooled, grid = shift_features(offsets, split.pooled, split.grid, split.sources)  # each source's shift
    hyps = caption_features(TorchRunner(decoder), vocab, pooled, grid, SearchConfig(), greedy=True)
    hypotheses = {i: to_text(vocab, h[0]) for i, h in zip(split.image_ids, hyps)}
    return coco_scores(split.references, hypotheses, meteor=False, fast=True)["BLEU-4"]


def tune_sources_only(decoder: Decoder) -> None:
    """Freeze every weight but the shifts of sources after the first: source 0 keeps captioning as the
    start did, the others learn only where their photos' features sit (`train --tune sources`)."""
    if decoder.config.sources < 2:
        raise CaptionerError("--tune sources needs a decoder with --sources 2 or more")
    for parameter in decoder.parameters():
        parameter.requires_grad_(False)
    decoder.source_shift.requires_grad_(True)
    keep = torch.ones_like(decoder.source_shift)  # (S, D)
    keep[0] = 0.0
    decoder.source_shift.register_hook(lambda grad: grad * keep)  # source 0's row stays as it is


def new_decoder(cfg: TrainConfig, vocab_words: list[str], feature_dim: int) -> Decoder:
    decoder = build_decoder(replace(cfg.decoder, vocab_size=len(vocab_words), feature_dim=feature_dim))
    if cfg.decoder.embeddings.startswith("glove"):
        matrix, found = glove_matrix(vocab_words, cfg.seed)
        decoder.embed.table.weight.data.copy_(torch.from_numpy(matrix))
        log.info("GloVe covers %d of %d vocabulary words", found, len(vocab_words))
    return decoder


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    left.plot(epochs, [h["val_loss"] for h in history], "s-", label="val loss")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    right = left.twinx()
    right.plot(epochs, [h["val_bleu4"] for h in history], "^-", color="tab:green", label="val BLEU-4")
    right.set_ylabel("BLEU-4 (greedy)")
    fig.legend(loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def write_history(history: list[dict], out: Path) -> None:
    write_json(out / "history.json", history)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(out / "history.csv", text.getvalue())
    plot_history(history, out / "loss_curve.png")


def distributed_world() -> tuple[int, int]:
    """(rank, world size) under torchrun, else (0, 1)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _weights_checksum(decoder: torch.nn.Module) -> torch.Tensor:
    return torch.stack([p.detach().double().sum() for p in decoder.parameters()]).sum().reshape(1).cpu()


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a decoder; returns the path of the best model bundle."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch_device(cfg.device)
    rank, world = distributed_world()
    lead = rank == 0
    started_group = False
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            started_group = True
    try:
        best = _train(cfg, resume, progress and lead, device, rank, world)
        if world > 1:  # no rank leaves (and closes its connections) while rank 0 still writes the run
            dist.barrier()
        return best
    finally:
        if started_group:
            gc.collect()  # a DistributedDataParallel's reducer holds the group: free it before the group goes
            dist.destroy_process_group()


def _train(cfg: TrainConfig, resume: bool, progress: bool, device, rank: int, world: int) -> Path:
    lead = rank == 0
    amp = device.type == "cuda"  # mixed precision (float16 with loss scaling) on CUDA
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    cfg = with_start_config(cfg)
    with_grid = uses_grid(cfg.decoder)
    if world > 1 and not lead:
        dist.barrier()  # rank 0 extracts any missing features first
    vocab, train_split, val_split, start = prepare(cfg, with_grid, progress)
    if start is not None:  # a start without source shifts gets them (zero: it captions as before)
        start.decoder = with_sources(start.decoder, cfg.decoder.sources)
    decoder = (start.decoder if start else new_decoder(cfg, vocab.words, train_split.pooled.shape[1])).to(device)
    if cfg.tune == "sources":
        tune_sources_only(decoder)
    if world > 1 and lead:
        dist.barrier()
    if start is not None and lead and not (out / "start.pt").is_file():  # the grown start, for averaging with the result
        grown, grown_vocab, grown_info = finish(start.decoder, vocab, start)
        save_bundle(out / "start.pt", ModelBundle(grown, grown_vocab, FeatureCache(cfg.cache_dir, cfg.encoder).encoder_info(),
                                                  {**grown_info, "train_config": asdict(cfg)}))
    model = decoder
    if world > 1:
        model = DistributedDataParallel(decoder, device_ids=[device.index] if device.type == "cuda" else None)
    log.info("training on %s%s%s", device, " with mixed precision" if amp else "",
             f", rank {rank} of {world}" if world > 1 else "")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    optimizer = torch.optim.Adam([p for p in decoder.parameters() if p.requires_grad], lr=cfg.lr)
    encoder_info = FeatureCache(cfg.cache_dir, cfg.encoder).encoder_info()
    history: list[dict] = []
    best, bad_epochs, step, start_epoch = float("-inf"), 0, 0, 1
    checkpoint = out / "last.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # loading moves it to the device
        if state["vocab"] != vocab.words:
            raise CaptionerError(f"{checkpoint} was trained with another vocabulary; use a new --output")
        decoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, best, bad_epochs, step = state["history"], state["best"], state["bad_epochs"], state["step"]
        start_epoch = state["epoch"] + 1
        log.info("resumed from %s at epoch %d", checkpoint, start_epoch)
    elif checkpoint.is_file():
        raise CaptionerError(f"{out} already has a run; pass --resume to continue it or choose another --output")
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)
    if resume and checkpoint.is_file():  # the same learning-rate schedule and dropout masks as without a stop
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
    for epoch in range(start_epoch, cfg.epochs + 1):
        if bad_epochs >= cfg.patience or (cfg.max_steps and step >= cfg.max_steps):
            break
        decoder.train()
        started, total, seen = time.time(), 0.0, 0
        per_epoch = round(sum(train_split.weights)) if train_split.weights else len(train_split.captions)
        n_batches = -(-per_epoch // cfg.batch_size)  # the progress bar's length (weighted captions: about)
        bar = tqdm(batches(train_split, cfg.batch_size, True, cfg.seed + epoch), total=n_batches,
                   desc=f"epoch {epoch}", unit="batch", disable=not progress)
        for batch in bar:
            if world > 1:  # this rank's share of the global batch
                if len(batch[2]) < world:
                    continue  # a last batch too small to share: every rank skips it
                batch = tuple(t[rank::world] if t is not None else None for t in batch)
            pooled, grid, tokens, sources = _to(device, *batch)
            if sources is not None:  # (B, D), (B, L, D): each source's learned shift
                pooled, grid = decoder.shift(pooled, grid, sources)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = sequence_loss(model, pooled, grid, tokens, cfg)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(tokens)
            seen += len(tokens)
            step += 1
            bar.set_postfix(loss=f"{total / seen:.3f}")
            if cfg.max_steps and step >= cfg.max_steps:
                break
        train_seconds = time.time() - started
        in_sync = True
        if world > 1:
            sums = torch.tensor([total, float(seen)])
            dist.all_reduce(sums)
            total, seen = float(sums[0]), int(sums[1])
            checksums = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
            dist.all_gather(checksums, _weights_checksum(decoder))
            in_sync = max(float(c) for c in checksums) - min(float(c) for c in checksums) <= 1e-6 * (
                1 + abs(float(checksums[0])))
            if not in_sync:
                log.error("ranks hold different weights after epoch %d: %s", epoch, [float(c) for c in checksums])
        if lead:
            val_loss = validation_loss(decoder, val_split, cfg)
            val_bleu4 = validation_bleu(decoder, vocab, val_split)
        else:
            val_loss = val_bleu4 = 0.0
        if world > 1:  # every rank takes the same scheduling and stopping decisions
            shared = torch.tensor([val_loss, val_bleu4], dtype=torch.float64)
            dist.broadcast(shared, 0)
            val_loss, val_bleu4 = float(shared[0]), float(shared[1])
        score = val_bleu4 if cfg.stop_on == "bleu4" else -val_loss
        scheduler.step(score)
        improved = score > best
        if improved and lead:
            info = {"train_config": asdict(cfg), "epoch": epoch, "val_bleu4_greedy": val_bleu4, "val_loss": val_loss,
                    "trained_seconds": sum(h["seconds"] for h in history) + train_seconds}
            saved, saved_vocab = decoder, vocab
            if start is not None:  # the start model's open-vocabulary words back
                saved, saved_vocab, grown = finish(decoder, vocab, start)
                info.update(grown)
            save_bundle(out / "model.pt", ModelBundle(saved, saved_vocab, encoder_info, info))
        best, bad_epochs = (score, 0) if improved else (best, bad_epochs + 1)
        history.append({"epoch": epoch, "step": step, "train_loss": round(total / max(seen, 1), 4),
                        "val_loss": round(val_loss, 4), "val_bleu4": round(val_bleu4, 4),
                        "lr": optimizer.param_groups[0]["lr"], "seconds": round(train_seconds, 1), "best": improved,
                        "device": str(device) + (" amp" if amp else ""), "world_size": world,
                        **({"ranks_in_sync": in_sync} if world > 1 else {})})
        log.info("epoch %d: train loss %.3f, val loss %.3f, val BLEU-4 %.4f%s (%.0fs)", epoch, total / max(seen, 1),
                 val_loss, val_bleu4, " *" if improved else "", train_seconds)
        if not lead:
            continue
        write_history(history, out)
        with atomic_path(checkpoint) as tmp:
            torch.save({"model": {k: v.cpu() for k, v in decoder.state_dict().items()}, "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "scaler": scaler.state_dict(),
                        "step": step, "history": history, "best": best, "bad_epochs": bad_epochs,
                        "vocab": vocab.words, "train_config": asdict(cfg),
                        "decoder_config": asdict(decoder.config)}, tmp)
    return out / "model.pt"
