"""Caption cached or fresh features with a decoder: batched greedy, beam or constrained beam search."""

from __future__ import annotations

import numpy as np
import torch

from captioner.data.vocab import Vocabulary
from captioner.decoder import CaptionDecoder
from captioner.decoder.language_model import LanguageModel
from captioner.decoding import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search
from captioner.decoding.fusion import fuse, fused_state


def caption_features(
    decoder: CaptionDecoder,
    vocab: Vocabulary,
    pooled: np.ndarray,
    grid: np.ndarray | None,
    search: SearchConfig,
    greedy: bool = False,
    batch_size: int | None = None,
    constraints: list[Constraints] | None = None,
    trained_size: int | None = None,
    trace: bool = False,
    language_model: LanguageModel | None = None,
    lm_weights: list[float] | None = None,
) -> list[list[Hypothesis]]:
    """pooled (N, D), grid (N, L, D) or None -> ranked hypotheses per image (one if greedy).

    constraints: one per image (see concepts.grounding.constraints_for), or None for plain search.
    Without constraints, open-vocabulary words (ids >= trained_size) are never emitted.
    trace: keep the attention weights of every word (attention decoders only).
    language_model, lm_weights: shallow fusion with a text-only language model, one weight per image.
    """
    decoder.eval()
    results: list[list[Hypothesis]] = []
    never = (vocab.pad_id, vocab.bos_id, vocab.unk_id)
    if constraints is None:
        never += tuple(range(trained_size if trained_size is not None else len(vocab), len(vocab)))
    tracer = decoder.attention if (trace and decoder.config.uses_grid) else None
    search_fn = greedy_search if greedy else beam_search
    fusing = language_model is not None and lm_weights is not None and any(w > 0 for w in lm_weights)
    # constrained search keeps 2**n beams per image: smaller batches keep memory in bounds
    batch_size = batch_size or (200 if constraints is None else 40)
    with torch.inference_mode():
        for start in range(0, len(pooled), batch_size):
            p = torch.from_numpy(np.asarray(pooled[start : start + batch_size], dtype=np.float32))  # (b, D)
            g = None
            if decoder.config.uses_grid:
                g = torch.from_numpy(np.asarray(grid[start : start + batch_size], dtype=np.float32))  # (b, L, D)
            state = decoder.init_state(p, g)
            step = decoder.step
            if fusing:
                weights = torch.tensor(lm_weights[start : start + batch_size])  # (b,)
                step = fuse(decoder.step, language_model.step, len(state))
                state = fused_state(state, language_model.init_state(len(p)), weights)
            chunk = constraints[start : start + batch_size] if constraints is not None else None
            found = search_fn(step, state, vocab.bos_id, vocab.eos_id, search, never, chunk, tracer)
            results.extend([h] if greedy else h for h in found)
    return results


def to_text(vocab: Vocabulary, hypothesis: Hypothesis) -> str:
    return " ".join(vocab.decode(hypothesis.tokens))
