"""Caption cached or fresh features with a decoder: batched greedy or beam search."""

from __future__ import annotations

import numpy as np
import torch

from captioner.data.vocab import Vocabulary
from captioner.decoder import CaptionDecoder
from captioner.decoding import Hypothesis, SearchConfig, beam_search, greedy_search


def caption_features(
    decoder: CaptionDecoder,
    vocab: Vocabulary,
    pooled: np.ndarray,
    grid: np.ndarray | None,
    search: SearchConfig,
    greedy: bool = False,
    batch_size: int = 200,
) -> list[list[Hypothesis]]:
    """pooled (N, D), grid (N, L, D) or None -> ranked hypotheses per image (one if greedy)."""
    decoder.eval()
    results: list[list[Hypothesis]] = []
    never = (vocab.pad_id, vocab.bos_id, vocab.unk_id)
    with torch.inference_mode():
        for start in range(0, len(pooled), batch_size):
            p = torch.from_numpy(np.asarray(pooled[start : start + batch_size], dtype=np.float32))  # (b, D)
            g = None
            if decoder.config.uses_grid:
                g = torch.from_numpy(np.asarray(grid[start : start + batch_size], dtype=np.float32))  # (b, L, D)
            state = decoder.init_state(p, g)
            if greedy:
                results.extend([h] for h in greedy_search(decoder.step, state, vocab.bos_id, vocab.eos_id, search, never))
            else:
                results.extend(beam_search(decoder.step, state, vocab.bos_id, vocab.eos_id, search, never))
    return results


def to_text(vocab: Vocabulary, hypothesis: Hypothesis) -> str:
    return " ".join(vocab.decode(hypothesis.tokens))
