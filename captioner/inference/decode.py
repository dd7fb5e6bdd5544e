"""Caption cached or fresh features with a decoder: batched greedy, beam or constrained beam search."""

from __future__ import annotations

import numpy as np
import torch

from captioner.data.vocab import Vocabulary
from captioner.decoder import CaptionDecoder
from captioner.decoding import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search


def caption_features(
    decoder: CaptionDecoder,
    vocab: Vocabulary,
    pooled: np.ndarray,
    grid: np.ndarray | None,
    search: SearchConfig,
    greedy: bool = False,
    batch_size: int = 200,
    constraints: list[Constraints] | None = None,
    trained_size: int | None = None,
    trace: bool = False,
) -> list[list[Hypothesis]]:
    """pooled (N, D), grid (N, L, D) or None -> ranked hypotheses per image (one if greedy).

    constraints: one per image (see concepts.grounding.constraints_for), or None for plain search.
    Without constraints, open-vocabulary words (ids >= trained_size) are never emitted.
    trace: keep the attention weights of every word (attention decoders only).
    """
    decoder.eval()
    results: list[list[Hypothesis]] = []
    never = (vocab.pad_id, vocab.bos_id, vocab.unk_id)
    if constraints is None:
        never += tuple(range(trained_size if trained_size is not None else len(vocab), len(vocab)))
    tracer = decoder.attention if (trace and decoder.config.uses_grid) else None
    search_fn = greedy_search if greedy else beam_search
    with torch.inference_mode():
        for start in range(0, len(pooled), batch_size):
            p = torch.from_numpy(np.asarray(pooled[start : start + batch_size], dtype=np.float32))  # (b, D)
            g = None
            if decoder.config.uses_grid:
                g = torch.from_numpy(np.asarray(grid[start : start + batch_size], dtype=np.float32))  # (b, L, D)
            state = decoder.init_state(p, g)
            chunk = constraints[start : start + batch_size] if constraints is not None else None
            found = search_fn(decoder.step, state, vocab.bos_id, vocab.eos_id, search, never, chunk, tracer)
            results.extend([h] if greedy else h for h in found)
    return results


def to_text(vocab: Vocabulary, hypothesis: Hypothesis) -> str:
    return " ".join(vocab.decode(hypothesis.tokens))
