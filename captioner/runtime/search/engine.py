"""Greedy, beam and constrained beam search, batched over images, for any decoder.

A decoder is driven through `step(tokens, state) -> (log_probs, state)` on numpy arrays; a state
is a tuple of arrays with the batch (times beams) as first dimension, so hypotheses are reordered
by indexing rows. The search is plain numpy: the same engine runs PyTorch decoders (through
`decoding.captions.torch_step`) and the ONNX Runtime ones shipped for inference, without torch.
Beam scores are length-normalised as log_prob / length**alpha, and hypotheses may
not repeat an n-gram or the word just emitted.

Constrained beam search (Anderson et al. 2017, "Guided open vocabulary image captioning with
constrained beam search") is the same loop: an image with n constraints (each a set of token ids,
any one of which satisfies it) is searched in 2**n beams, one per subset of satisfied
constraints (a finite-state machine over the caption); a word that satisfies a constraint moves a
hypothesis to the beam of the larger subset. The answer comes from the beam that satisfies all
constraints, else from the one that satisfies most: with no satisfiable constraint that is the
plain beam search. Plain beam search is the one-beam case (no constraints).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

State = tuple[np.ndarray, ...]
StepFn = Callable[[np.ndarray, State], tuple[np.ndarray, State]]  # tokens (N,) int64 -> log-probs (N, V)
TraceFn = Callable[[State], np.ndarray]  # -> (N, cells) attention of the latest step
NEG_INF = float("-inf")


def broadcasting(step: StepFn) -> StepFn:
    """Mark a step function that takes a state part of one row as that part for every row (numpy,
    ONNX and torch broadcasting). For one image, search then keeps the static parts (the attention
    grid and its projection) at one row instead of copying them to every beam row."""
    step.broadcasts = True
    return step


def broadcasts(step: StepFn) -> bool:
    return bool(getattr(step, "broadcasts", False))


@dataclass
class SearchConfig:
    beam_size: int = 5  # chosen on the validation split (scripts/tune_search.sh)
    max_length: int = 25  # words, not counting <end>
    min_length: int = 1  # an empty caption is never an answer
    length_penalty: float = 1.1  # alpha; 0 ranks by raw log-probability (1.1: chosen on Flickr8k val, see README)
    no_repeat_ngram: int = 2  # 0 disables; 2: no bigram twice in a caption ("a dog and a dog")
    block_repeated_word: bool = True  # never the same word twice in a row
    # nor on both sides of these words ("a white and white dog", "broccoli and broccoli": with
    # "black and white" blocked on a colour photo, the decoder wrote the first); () disables
    no_repeat_across: tuple[str, ...] = ("and", "or")
    # Keep searching after k finished captions while a live one may still beat them. Off: the usual
    # early stop finds less likely captions that score better (val BLEU-4 0.2122 vs 0.2073 exhaustive).
    exhaustive: bool = False


@dataclass(frozen=True)
class Constraints:
    """What one image's caption must and must not contain, as token ids, and how it is ranked."""

    required: tuple[frozenset[int], ...] = ()  # each set: any one of these ids satisfies it
    banned: frozenset[int] = frozenset()  # ids never emitted for this image
    length_penalty: float | None = None  # this image's alpha instead of SearchConfig.length_penalty
    banned_ngrams: tuple[tuple[int, ...], ...] = ()  # id sequences (2 or more) never completed for this image


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <start> and <end>
    log_prob: float
    score: float  # length-normalised log_prob
    satisfied: int = 0  # how many constraints the caption meets
    attention: list[list[float]] | None = field(default=None, repr=False)  # per word, if traced


def blocked_tokens(seq: list[int], config: SearchConfig, joiners: frozenset[int] = frozenset()) -> list[int]:
    """Ids that would repeat the last word, the word before a joiner just written (the ids of
    `no_repeat_across`), or an n-gram already in `seq`."""
    banned = [seq[-1]] if (config.block_repeated_word and seq) else []
    if len(seq) >= 2 and seq[-1] in joiners:
        banned.append(seq[-2])
    n = config.no_repeat_ngram
    if n > 0 and len(seq) >= n - 1:
        prefix = seq[len(seq) - (n - 1) :]
        for i in range(len(seq) - n + 1):
            if seq[i : i + n - 1] == prefix:
                banned.append(seq[i + n - 1])
    return banned


def ngram_endings(seq: list[int], ngrams: tuple[tuple[int, ...], ...]) -> list[int]:
    """The last ids of the banned n-grams that `seq` has written all but the last word of."""
    return [g[-1] for g in ngrams if 1 < len(g) <= len(seq) + 1 and tuple(seq[len(seq) - len(g) + 1 :]) == g[:-1]]


def _normalise(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / (max(length, 1) ** alpha)


def _constraint_tables(constraints: list[Constraints], vocab: int):
    """Per image: the ids that satisfy some constraint, padded (B, T), and their bit masks (B, T).

    Ids outside the vocabulary are dropped: a constraint left with none cannot be satisfied.
    """
    per_image = []
    for c in constraints:
        bits: dict[int, int] = {}
        for i, ids in enumerate(c.required):
            for tok in ids:
                if 0 <= tok < vocab:
                    bits[tok] = bits.get(tok, 0) | (1 << i)
        per_image.append(bits)
    width = max((len(b) for b in per_image), default=0)
    toks = np.zeros((len(constraints), width), dtype=np.int64)
    masks = np.zeros((len(constraints), width), dtype=np.int64)
    for b, bits in enumerate(per_image):
        for j, (tok, mask) in enumerate(sorted(bits.items())):
            toks[b, j], masks[b, j] = tok, mask
    return toks, masks


def beam_search(
    step: StepFn,
    state: State,
    bos_id: int,
    eos_id: int,
    config: SearchConfig | None = None,
    never: tuple[int, ...] = (),
    constraints: list[Constraints] | None = None,
    trace: TraceFn | None = None,
    joiners: frozenset[int] = frozenset(),
) -> list[list[Hypothesis]]:
    """Best `beam_size` hypotheses per image, best first (config None: the SearchConfig defaults).

    never: ids never to emit (pad, unk). constraints: one per image (or None). trace: a function
    of the decoder state giving (rows, cells) attention weights, kept per word when given.
    """
    config = config or SearchConfig()
    batch = state[0].shape[0]
    k = max(1, config.beam_size)
    constraints = constraints or [Constraints()] * batch
    n_required = [len(c.required) for c in constraints]
    n_states = 1 << max(n_required, default=0)  # S beams per image, one per satisfied subset
    groups = batch * n_states
    rows_per_image = n_states * k
    seqs: list[list[int]] = [[] for _ in range(groups * k)]
    beam_scores = np.full((batch, n_states, k), NEG_INF, dtype=np.float32)
    beam_scores[:, 0, 0] = 0.0  # only the first copy in the empty-subset beam is live at the start
    history: np.ndarray | None = None  # (rows, t, cells) attention so far, if traced
    finished: list[list[Hypothesis]] = [[] for _ in range(groups)]
    group_done = [False] * groups
    image_done = [False] * batch
    full = [(1 << n) - 1 for n in n_required]
    never_ids = np.array(sorted(set(never)), dtype=np.int64)
    alphas = [config.length_penalty if c.length_penalty is None else c.length_penalty for c in constraints]
    subset = np.arange(n_states)  # (S,)
    base = np.arange(groups).reshape(batch, n_states, 1) * k  # (B, S, 1) first row of each beam
    in_place = list(range(groups * k))  # the rows' order when no hypothesis moves
    banned_images = [b for b, c in enumerate(constraints) if c.banned]
    for t in range(config.max_length + 1):
        if t == 0:  # one live row per image: step the (B, ...) state, then give every beam its copy
            log_probs, state, static = _first_step(step, bos_id, state, rows_per_image)  # (B*S*K, V)
        else:
            log_probs, state, static = _live_step(step, tokens, state, beam_scores.reshape(-1) > NEG_INF, static)  # (N, V)
        vocab = log_probs.shape[1]
        if t == 0:
            ctoks, cmasks = _constraint_tables(constraints, vocab)  # (B, T) each
            forbid = np.zeros((batch, 1, vocab), dtype=np.float32)  # (B, 1, V): -inf for never and banned ids
            forbid[:, 0, never_ids] = NEG_INF
            for b in banned_images:
                ids = np.fromiter(constraints[b].banned, dtype=np.int64)
                forbid[b, 0, ids[(ids >= 0) & (ids < vocab)]] = NEG_INF
        # running scores: a new array (the step's output is not written to), forbidden words at -inf
        total = np.asarray(log_probs, dtype=np.float32).reshape(batch, rows_per_image, vocab) + forbid
        flat = total.reshape(-1, vocab)  # (N, V) view
        if t < config.min_length:
            flat[:, eos_id] = NEG_INF
        if t == config.max_length:  # out of room: only <end> may follow
            eos_column = flat[:, eos_id].copy()
            flat.fill(NEG_INF)
            flat[:, eos_id] = eos_column
        for row, seq in enumerate(seqs):
            for tok in blocked_tokens(seq, config, joiners):
                flat[row, tok] = NEG_INF
            ngrams = constraints[row // rows_per_image].banned_ngrams
            if ngrams:
                for tok in ngram_endings(seq, ngrams):
                    if 0 <= tok < vocab:
                        flat[row, tok] = NEG_INF
        flat += beam_scores.reshape(-1, 1)
        total = total.reshape(batch, n_states, k, vocab)
        alpha = trace(state) if trace is not None else None  # (N, cells)
        cand_scores, cand_rows, cand_toks = _candidates(total, ctoks, cmasks, subset, k, base)  # (B, S, 2K) each
        next_rows, next_tokens, next_scores = [], [], []
        cand_scores, cand_rows, cand_toks = cand_scores.tolist(), cand_rows.tolist(), cand_toks.tolist()
        for b in range(batch):
            for s in range(n_states):
                g = b * n_states + s
                chosen = 0
                if not (image_done[b] or group_done[g]):
                    for score, src, tok in zip(cand_scores[b][s], cand_rows[b][s], cand_toks[b][s]):
                        if score == NEG_INF or chosen == k:
                            break
                        if tok == eos_id:
                            att = None
                            if alpha is not None:
                                past = history[src] if history is not None else np.zeros((0, alpha.shape[1]), alpha.dtype)
                                att = past.tolist()
                            finished[g].append(Hypothesis(seqs[src], score, _normalise(score, len(seqs[src]) + 1,
                                               alphas[b]), bin(s).count("1"), att))
                        else:
                            next_rows.append(src)
                            next_tokens.append(tok)
                            next_scores.append(score)
                            chosen += 1
                    group_done[g] = _beam_done(finished[g], k, next_scores[len(next_scores) - chosen:], len(seqs[0]) + 1,
                                               alphas[b], config.exhaustive)
                for _ in range(k - chosen):  # dead slots keep a placeholder with score -inf
                    next_rows.append(g * k)
                    next_tokens.append(eos_id)
                    next_scores.append(NEG_INF)
            live = any(sc > NEG_INF for sc in next_scores[b * rows_per_image : (b + 1) * rows_per_image])
            image_done[b] = image_done[b] or group_done[b * n_states + full[b]] or not live
        if all(image_done):
            break
        index = np.array(next_rows, dtype=np.int64)
        if next_rows != in_place:  # (greedy's one row per beam never moves)
            state = tuple(s if keep else s[index] for s, keep in zip(state, static))
        if alpha is not None:
            picked = alpha[index][:, None]  # (N, 1, cells)
            history = picked if history is None else np.concatenate([history[index], picked], axis=1)
        tokens = np.array(next_tokens, dtype=np.int64)
        seqs = [seqs[r] + [tok] for r, tok in zip(next_rows, next_tokens)]
        beam_scores = np.array(next_scores, dtype=np.float32).reshape(batch, n_states, k)
    return [_answer(finished[b * n_states : (b + 1) * n_states], k) for b in range(batch)]


def _first_step(step: StepFn, bos_id: int, state: State, rows_per_image: int):
    """The first step, from <start>, on one row per image (the only live one): log-probabilities
    (-inf but in each image's first row) and the new state, both repeated to rows_per_image rows
    per image, and which state tensors are static (as in `_live_step`). The static ones of a single
    image stay one row when the step broadcasts them (`broadcasting`)."""
    batch = state[0].shape[0]
    part_logp, new_state = step(np.full((batch,), bos_id, dtype=np.int64), state)  # (B, V)
    static = [new is old for new, old in zip(new_state, state)]
    if rows_per_image == 1:
        return part_logp, tuple(new_state), static
    log_probs = np.full((batch * rows_per_image, part_logp.shape[1]), NEG_INF, dtype=np.float32)
    log_probs[::rows_per_image] = part_logp
    shared = batch == 1 and broadcasts(step)
    new_state = tuple(s if keep and shared else np.repeat(s, rows_per_image, axis=0)  # (B*S*K, ...)
                      for s, keep in zip(new_state, static))
    return log_probs, new_state, static


def _live_step(step: StepFn, tokens: np.ndarray, state: State, live: np.ndarray, static: list[bool]):
    """Run `step` on the live rows only (beams of subsets not reached yet, or finished, are dead).

    Returns log-probabilities for every row (-inf for dead ones), the new state for every row, and
    which state tensors are static: handed back untouched by the step (the image grid), they are
    the same for every row of an image, as when repeated, and rows never move between images, so
    they need no reordering (nor picking: a static part of one row stands for every row).
    """
    if bool(live.all()):
        log_probs, new_state = step(tokens, state)
        return log_probs, new_state, [new is old for new, old in zip(new_state, state)]
    rows = np.flatnonzero(live)  # (L,)
    part = tuple(s if keep and len(s) == 1 else s[rows] for s, keep in zip(state, static))
    part_logp, new_part = step(tokens[rows], part)  # (L, V)
    static = [new is old for new, old in zip(new_part, part)]
    log_probs = np.full((len(tokens), part_logp.shape[1]), NEG_INF, dtype=np.float32)
    log_probs[rows] = part_logp
    new_state = []
    for old, new, keep in zip(state, new_part, static):
        if keep:
            new_state.append(old)
        else:
            full = old.copy() if old.shape[1:] == new.shape[1:] else np.zeros((len(tokens),) + new.shape[1:], new.dtype)
            full[rows] = new
            new_state.append(full)
    return log_probs, tuple(new_state), static


ARGMAX_WIDTH = 2  # top-k up to this width by argmax passes (greedy); wider, by a partition
# or, for one row, from the values within NEAR_MARGIN of its best when there are enough of them and
# not too many (log-probabilities are peaked: a few words, against a partition of every K x V score)
NEAR_MARGIN = 6.0
NEAR_MOST = 512


def _topk(scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The `width` largest values along the last axis, best first, and their indices.

    Equal values among those kept come lower index first; which of several equal values at the
    cut-off is kept is unspecified (as with torch.topk)."""
    lead, n = scores.shape[:-1], scores.shape[-1]
    flat = scores.reshape(-1, n)  # (R, n)
    if width <= ARGMAX_WIDTH and width < n:  # greedy's two: argmax passes, cheaper than a partition
        work = flat.copy()
        picked = np.arange(flat.shape[0])  # (R,)
        index = np.empty((flat.shape[0], width), dtype=np.int64)
        values = np.empty((flat.shape[0], width), dtype=flat.dtype)
        for j in range(width):
            best = work.argmax(axis=-1)  # (R,) the first of equal maxima: lower index first
            index[:, j], values[:, j] = best, work[picked, best]
            work[picked, best] = -np.inf
        if not np.isneginf(values[:, -1]).any():  # else an index may repeat: the partition below
            return values.reshape(*lead, -1), index.reshape(*lead, -1)
    elif flat.shape[0] == 1 and width < n:  # one image's beams: the few words near the best score
        near = np.flatnonzero(flat[0] >= flat[0].max() - NEAR_MARGIN)  # (M,) ascending
        if width <= len(near) <= NEAR_MOST:  # the top width are among them (all others score lower)
            values = flat[0, near]
            order = np.lexsort((near, -values))[:width]  # by value (descending), then index
            return values[order].reshape(*lead, -1), near[order].reshape(*lead, -1)
    rows = np.arange(flat.shape[0]).reshape(-1, 1)  # (R, 1): plain indexing, faster than take_along_axis here
    if width < n:
        part = np.argpartition(-flat, width - 1, axis=-1)[:, :width]  # (R, width) unordered top width
    else:
        part = np.broadcast_to(np.arange(n), flat.shape)
    values = flat[rows, part]
    order = np.lexsort((part, -values), axis=-1)  # by value (descending), then index
    return values[rows, order].reshape(*lead, -1), part[rows, order].reshape(*lead, -1)


def _candidates(total: np.ndarray, ctoks: np.ndarray, cmasks: np.ndarray, subset: np.ndarray, k: int,
                base: np.ndarray):
    """Best 2K continuations for every (image, subset) beam: scores, source rows and tokens, each (B, S, 2K).

    total: (B, S, K, V) running scores; base: (B, S, 1) each beam's first row. A word stays in its
    beam unless it satisfies a constraint not yet met, in which case it moves to the beam of the
    larger subset.
    """
    batch, n_states, _, vocab = total.shape
    width = min(2 * k, k * vocab)
    if ctoks.shape[1] == 0:  # no constraints anywhere: the plain beam search
        scores, index = _topk(total.reshape(batch, n_states, k * vocab), width)  # (B, S, 2K)
        return scores, base + index // vocab, index % vocab
    moves = cmasks[:, None, :] & ~subset.reshape(1, -1, 1)  # (B, S, T) bits a word would add
    stay_block = np.zeros((batch, n_states, vocab), dtype=bool)  # (B, S, V) words that must move instead
    b_idx, s_idx, t_idx = np.nonzero(moves)
    stay_block[b_idx, s_idx, ctoks[b_idx, t_idx]] = True
    stay = np.where(stay_block[:, :, None, :], np.float32(NEG_INF), total)  # (B, S, K, V)
    stay_scores, stay_index = _topk(stay.reshape(batch, n_states, k * vocab), width)  # (B, S, 2K)
    stay_rows, stay_toks = base + stay_index // vocab, stay_index % vocab
    # moves: from beam s, word j -> beam s | mask_j, scored total[b, s, beam, tok_j]
    n_tok = ctoks.shape[1]
    gathered = np.take_along_axis(total, np.broadcast_to(ctoks[:, None, None, :], (batch, n_states, k, n_tok)),
                                  axis=3)  # (B, S, K, T)
    target = subset.reshape(1, -1, 1) | cmasks[:, None, :]  # (B, S, T)
    gathered = np.where((moves == 0)[:, :, None, :], np.float32(NEG_INF), gathered)
    move_scores = gathered.reshape(batch, -1)  # (B, S*K*T)
    move_target = np.broadcast_to(target[:, :, None, :], (batch, n_states, k, n_tok)).reshape(batch, -1)  # (B, S*K*T)
    move_rows = np.broadcast_to((base + np.arange(k).reshape(1, 1, k))[..., None],
                                (batch, n_states, k, n_tok)).reshape(batch, -1)
    move_toks = np.broadcast_to(ctoks[:, None, None, :], (batch, n_states, k, n_tok)).reshape(batch, -1)
    into = move_target[:, None, :] == subset.reshape(1, -1, 1)  # (B, S_target, S*K*T)
    move_scores = np.where(into, move_scores[:, None, :], np.float32(NEG_INF))  # (B, S, S*K*T)
    scores = np.concatenate([stay_scores, move_scores], axis=2)
    rows = np.concatenate([stay_rows, np.broadcast_to(move_rows[:, None, :], (batch, n_states, move_rows.shape[1]))], axis=2)
    toks = np.concatenate([stay_toks, np.broadcast_to(move_toks[:, None, :], (batch, n_states, move_toks.shape[1]))], axis=2)
    top, index = _topk(scores, width)  # (B, S, 2K)
    return top, np.take_along_axis(rows, index, axis=2), np.take_along_axis(toks, index, axis=2)


def _beam_done(finished: list[Hypothesis], k: int, live_scores: list[float], length: int, alpha: float,
               exhaustive: bool) -> bool:
    """A beam is done with k finished hypotheses, unless (exhaustive) a live one may still beat them:
    its running log-probability, normalised at the current length, above the k-th finished score."""
    if len(finished) < k:
        return False
    if not exhaustive or not live_scores:
        return True
    kth = sorted((h.score for h in finished), reverse=True)[k - 1]
    return max(live_scores) / (max(length, 1) ** alpha) <= kth


def _answer(beams: list[list[Hypothesis]], k: int) -> list[Hypothesis]:
    """Hypotheses of the beam that satisfies the most constraints (all, when it can), best first."""
    ranked = [sorted(b, key=lambda h: h.score, reverse=True)[:k] for b in beams if b]
    return max(ranked, key=lambda b: (b[0].satisfied, b[0].score), default=[])


def greedy_search(
    step: StepFn,
    state: State,
    bos_id: int,
    eos_id: int,
    config: SearchConfig | None = None,
    never: tuple[int, ...] = (),
    constraints: list[Constraints] | None = None,
    trace: TraceFn | None = None,
    joiners: frozenset[int] = frozenset(),
) -> list[Hypothesis]:
    """Most likely next word at every step (a beam of one per satisfied subset), one hypothesis per image."""
    greedy = replace(config or SearchConfig(), beam_size=1, length_penalty=0.0)
    return [hyps[0] for hyps in beam_search(step, state, bos_id, eos_id, greedy, never, constraints, trace, joiners)]
