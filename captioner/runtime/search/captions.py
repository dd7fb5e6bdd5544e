"""Caption cached or fresh features with a decoder: batched greedy, beam or constrained beam search.

The decoder (and language model) is a numpy runner: ONNX Runtime's (runtime/model/runners.py) or a
PyTorch module in training's TorchRunner; either way the search sees numpy step functions.
"""

from __future__ import annotations

import numpy as np

from captioner.runtime.data.vocab import Vocabulary
from captioner.runtime.search import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search
from captioner.runtime.search.fusion import fuse, fused_state


def as_runner(model):
    """A model with numpy `init_state` / `step` (/ `attention`): the ONNX Runtime runners, or a
    PyTorch module wrapped in training.networks.torch_runner.TorchRunner (the search never sees torch)."""
    if model is None or getattr(model, "numpy_io", False):
        return model
    raise TypeError(f"a {type(model).__name__} is not a numpy runner: wrap a PyTorch module in TorchRunner")


class RoutedDecoder:
    """Decoders chosen per photo by its caption source (grounding.decoder_sources): `routes[s]` captions
    the photos of source s, `main` all others. A model whose everyday photos have a decoder of their
    own (ModelBundle.source_decoders) is run through one; `caption_features` splits each batch by source."""

    numpy_io = True

    def __init__(self, main, routes: dict[int, object]):
        self.main = as_runner(main)
        self.routes = {int(source): as_runner(runner) for source, runner in routes.items()}
        if any(runner.uses_grid != self.main.uses_grid for runner in self.routes.values()):
            raise ValueError("routed decoders must all read the image grid, or none of them")
        self.uses_grid = self.main.uses_grid

    def for_source(self, source: int):
        return self.routes.get(int(source), self.main)


def routed(main, routes: dict[int, object] | None):
    """`main` alone, or a RoutedDecoder when some sources have decoders of their own."""
    return RoutedDecoder(main, routes) if routes else main


def shift_features(offsets: np.ndarray | None, pooled: np.ndarray, grid: np.ndarray | None,
                   sources: list[int] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each photo's features plus its source's shift (a decoder trained with sources, DecoderConfig.sources):
    offsets (S, D) or None, pooled (N, D), grid (N, L, D) or None, sources (N,) ids or None -> new arrays."""
    if offsets is None or sources is None:
        return pooled, grid
    shift = np.asarray(offsets, np.float32)[np.asarray(sources, np.int64)]  # (N, D)
    pooled = (pooled.astype(np.float32) + shift).astype(pooled.dtype)  # (N, D)
    grid = None if grid is None else (grid.astype(np.float32) + shift[:, None, :]).astype(grid.dtype)  # (N, L, D)
    return pooled, grid


def caption_features(
    decoder,
    vocab: Vocabulary,
    pooled: np.ndarray,
    grid: np.ndarray | None,
    search: SearchConfig,
    greedy: bool = False,
    batch_size: int | None = None,
    constraints: list[Constraints] | None = None,
    trained_size: int | None = None,
    trace: bool = False,
    language_model=None,
    lm_weights: list[float] | None = None,
    sources: list[int] | np.ndarray | None = None,
) -> list[list[Hypothesis]]:
    """pooled (N, D), grid (N, L, D) or None -> ranked hypotheses per image (one if greedy).

    decoder, language_model: numpy runners (see `as_runner`).
    constraints: one per image (see concepts.grounding.constraints_for), or None for plain search.
    Without constraints, open-vocabulary words (ids >= trained_size) are never emitted.
    trace: keep the attention weights of every word (attention decoders only).
    language_model, lm_weights: shallow fusion with a text-only language model, one weight per image.
    sources: each image's caption source (grounding.decoder_sources), which picks a RoutedDecoder's
    decoder; None: source 0 for all.
    """
    if isinstance(decoder, RoutedDecoder):
        ids = np.zeros(len(pooled), np.int64) if sources is None else np.asarray(sources, np.int64)  # (N,)
        if ids.shape != (len(pooled),):
            raise ValueError(f"{len(ids)} caption sources for {len(pooled)} images")
        found: list = [None] * len(pooled)
        for source in np.unique(ids):
            rows = np.flatnonzero(ids == source)
            part = caption_features(decoder.for_source(source), vocab, pooled[rows], None if grid is None else grid[rows],
                                    search, greedy, batch_size,
                                    None if constraints is None else [constraints[r] for r in rows], trained_size, trace,
                                    language_model, None if lm_weights is None else [lm_weights[r] for r in rows])
            for row, hyps in zip(rows, part):
                found[row] = hyps
        return found
    decoder, language_model = as_runner(decoder), as_runner(language_model)
    results: list[list[Hypothesis]] = []
    never = (vocab.pad_id, vocab.bos_id, vocab.unk_id)
    if constraints is None:
        never += tuple(range(trained_size if trained_size is not None else len(vocab), len(vocab)))
    tracer = decoder.attention if (trace and decoder.uses_grid) else None
    search_fn = greedy_search if greedy else beam_search
    joiners = frozenset(vocab.index[w] for w in search.no_repeat_across if w in vocab.index)
    fusing = language_model is not None and lm_weights is not None and any(w > 0 for w in lm_weights)
    # constrained search keeps 2**n beams per image: smaller batches keep memory in bounds
    batch_size = batch_size or (200 if constraints is None else 40)
    for start in range(0, len(pooled), batch_size):
        p = np.ascontiguousarray(pooled[start : start + batch_size], dtype=np.float32)  # (b, D)
        g = np.ascontiguousarray(grid[start : start + batch_size], dtype=np.float32) if decoder.uses_grid else None  # (b, L, D)
        state = decoder.init_state(p, g)
        step = decoder.step
        if fusing:
            step = fuse(decoder.step, language_model.step, len(state))
            state = fused_state(state, language_model.init_state(len(p)), lm_weights[start : start + batch_size])
        chunk = constraints[start : start + batch_size] if constraints is not None else None
        found = search_fn(step, state, vocab.bos_id, vocab.eos_id, search, never, chunk, tracer, joiners)
        results.extend([h] if greedy else h for h in found)
    return results


def to_text(vocab: Vocabulary, hypothesis: Hypothesis) -> str:
    return " ".join(vocab.decode(hypothesis.tokens))
