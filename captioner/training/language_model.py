"""Train the fusion language model on text-only captions (e.g. ../shared/data/coco-text)."""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from captioner.runtime.data.cleaning import clean_caption
from captioner.training.sequences import pad_batch
from captioner.runtime.data.vocab import Vocabulary
from captioner.training.networks.language_model import LanguageModel, LanguageModelConfig
from captioner.errors import CaptionerError

log = logging.getLogger(__name__)


def read_caption_texts(path: str | Path) -> list[str]:
    """Captions of a COCO-format JSON ({"annotations": [{"caption": ...}]}), images not needed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        texts = [a["caption"] for a in data["annotations"] if isinstance(a.get("caption"), str)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CaptionerError(f"{path}: not a COCO captions JSON ({type(exc).__name__}: {exc})") from None
    if not texts:
        raise CaptionerError(f"{path}: no captions")
    return texts


def train_language_model(texts: list[str], vocab: Vocabulary, epochs: int = 6, batch_size: int = 128,
                         lr: float = 2e-3, max_words: int = 25, seed: int = 0, progress: bool = True,
                         config: LanguageModelConfig | None = None) -> tuple[LanguageModel, dict]:
    """Fit on 95% of `texts`, report perplexity on the other 5%; returns the model and a report."""
    torch.manual_seed(seed)
    sequences = [vocab.encode(clean_caption(t)[:max_words]) for t in texts]
    random.Random(seed).shuffle(sequences)
    held = max(1, len(sequences) // 20)
    val, train = sequences[:held], sequences[held:]
    config = replace(config or LanguageModelConfig(len(vocab)), vocab_size=len(vocab))
    model = LanguageModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=vocab.pad_id)
    rng = random.Random(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        rng.shuffle(train)
        for start in tqdm(range(0, len(train), batch_size), desc=f"lm epoch {epoch}", disable=not progress):
            tokens = pad_batch(train[start : start + batch_size])  # (B, T)
            logits = model(tokens[:, :-1])  # (B, T-1, V)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            total = count = 0.0
            for start in range(0, len(val), 512):
                tokens = pad_batch(val[start : start + 512])
                logits = model(tokens[:, :-1])
                targets = tokens[:, 1:]
                nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                        ignore_index=vocab.pad_id, reduction="sum")
                total += float(nll)
                count += float((targets != vocab.pad_id).sum())
        history.append({"epoch": epoch, "val_perplexity": math.exp(total / count)})
        log.info("lm epoch %d: val perplexity %.2f", epoch, history[-1]["val_perplexity"])
    return model, {"captions": len(texts), "held_out": held, "history": history}
