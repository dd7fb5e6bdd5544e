"""Greedy, beam and constrained beam search, batched over images, for any decoder.

A decoder is driven through `step(tokens, state) -> (log_probs, state)`; a state is a tuple of
tensors with the batch (times beams) as first dimension, so hypotheses are reordered with
`index_select`. Beam scores are length-normalised as log_prob / length**alpha, and hypotheses may
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

import torch

StepFn = Callable[[torch.Tensor, tuple[torch.Tensor, ...]], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]
TraceFn = Callable[[tuple[torch.Tensor, ...]], torch.Tensor]
NEG_INF = float("-inf")


@dataclass
class SearchConfig:
    beam_size: int = 5  # chosen on the validation split (scripts/tune_search.sh)
    max_length: int = 25  # words, not counting <end>
    min_length: int = 1  # an empty caption is never an answer
    length_penalty: float = 1.1  # alpha; 0 ranks by raw log-probability (1.1: chosen on Flickr8k val, see README)
    no_repeat_ngram: int = 3  # 0 disables
    block_repeated_word: bool = True  # never the same word twice in a row
    # Keep searching after k finished captions while a live one may still beat them. Off: the usual
    # early stop finds less likely captions that score better (val BLEU-4 0.2122 vs 0.2073 exhaustive).
    exhaustive: bool = False


@dataclass(frozen=True)
class Constraints:
    """What one image's caption must and must not contain, as token ids, and how it is ranked."""

    required: tuple[frozenset[int], ...] = ()  # each set: any one of these ids satisfies it
    banned: frozenset[int] = frozenset()  # ids never emitted for this image
    length_penalty: float | None = None  # this image's alpha instead of SearchConfig.length_penalty


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <start> and <end>
    log_prob: float
    score: float  # length-normalised log_prob
    satisfied: int = 0  # how many constraints the caption meets
    attention: list[list[float]] | None = field(default=None, repr=False)  # per word, if traced


def blocked_tokens(seq: list[int], config: SearchConfig) -> list[int]:
    """Ids that would repeat the last word or an n-gram already in `seq`."""
    banned = [seq[-1]] if (config.block_repeated_word and seq) else []
    n = config.no_repeat_ngram
    if n > 0 and len(seq) >= n - 1:
        prefix = seq[len(seq) - (n - 1) :]
        for i in range(len(seq) - n + 1):
            if seq[i : i + n - 1] == prefix:
                banned.append(seq[i + n - 1])
    return banned


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
    toks = torch.zeros(len(constraints), width, dtype=torch.long)
    masks = torch.zeros(len(constraints), width, dtype=torch.long)
    for b, bits in enumerate(per_image):
        for j, (tok, mask) in enumerate(sorted(bits.items())):
            toks[b, j], masks[b, j] = tok, mask
    return toks, masks


@torch.inference_mode()
def beam_search(
    step: StepFn,
    state: tuple[torch.Tensor, ...],
    bos_id: int,
    eos_id: int,
    config: SearchConfig | None = None,
    never: tuple[int, ...] = (),
    constraints: list[Constraints] | None = None,
    trace: TraceFn | None = None,
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
    state = tuple(s.repeat_interleave(rows_per_image, dim=0) for s in state)  # (B*S*K, ...)
    tokens = torch.full((groups * k,), bos_id, dtype=torch.long)
    seqs: list[list[int]] = [[] for _ in range(groups * k)]
    beam_scores = torch.full((batch, n_states, k), NEG_INF)
    beam_scores[:, 0, 0] = 0.0  # only the first copy in the empty-subset beam is live at the start
    history: torch.Tensor | None = None  # (rows, t, cells) attention so far, if traced
    finished: list[list[Hypothesis]] = [[] for _ in range(groups)]
    group_done = [False] * groups
    image_done = [False] * batch
    full = [(1 << n) - 1 for n in n_required]
    never_ids = torch.tensor(sorted(set(never)), dtype=torch.long)
    alphas = [config.length_penalty if c.length_penalty is None else c.length_penalty for c in constraints]
    subset = torch.arange(n_states)  # (S,)
    banned_images = [b for b, c in enumerate(constraints) if c.banned]
    for t in range(config.max_length + 1):
        log_probs, state, static = _live_step(step, tokens, state, beam_scores.view(-1) > NEG_INF)  # (N, V)
        log_probs = log_probs.float().clone()
        vocab = log_probs.shape[1]
        if t == 0:
            ctoks, cmasks = _constraint_tables(constraints, vocab)  # (B, T) each
            banned = torch.zeros(batch, 1, vocab, dtype=torch.bool)  # (B, 1, V)
            for b in banned_images:
                banned[b, 0, [tok for tok in constraints[b].banned if 0 <= tok < vocab]] = True
        if never:
            log_probs[:, never_ids] = NEG_INF
        if banned_images:
            log_probs = log_probs.view(batch, rows_per_image, vocab).masked_fill(banned, NEG_INF).view(-1, vocab)
        if t < config.min_length:
            log_probs[:, eos_id] = NEG_INF
        if t == config.max_length:  # out of room: only <end> may follow
            eos_column = log_probs[:, eos_id].clone()
            log_probs.fill_(NEG_INF)
            log_probs[:, eos_id] = eos_column
        rows, cols = [], []
        for row, seq in enumerate(seqs):
            for tok in blocked_tokens(seq, config):
                rows.append(row)
                cols.append(tok)
        if rows:
            log_probs[rows, cols] = NEG_INF
        alpha = trace(state) if trace is not None else None  # (N, cells)
        total = (beam_scores.view(-1, 1) + log_probs).view(batch, n_states, k, vocab)
        cand_scores, cand_rows, cand_toks = _candidates(total, ctoks, cmasks, subset, k)  # (B, S, 2K) each
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
                                past = history[src] if history is not None else alpha.new_zeros(0, alpha.shape[1])
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
        index = torch.tensor(next_rows)
        state = tuple(s if keep else s.index_select(0, index) for s, keep in zip(state, static))
        if alpha is not None:
            picked = alpha.index_select(0, index).unsqueeze(1)  # (N, 1, cells)
            history = picked if history is None else torch.cat([history.index_select(0, index), picked], dim=1)
        tokens = torch.tensor(next_tokens)
        seqs = [seqs[r] + [tok] for r, tok in zip(next_rows, next_tokens)]
        beam_scores = torch.tensor(next_scores).view(batch, n_states, k)
    return [_answer(finished[b * n_states : (b + 1) * n_states], k) for b in range(batch)]


def _live_step(step: StepFn, tokens: torch.Tensor, state: tuple[torch.Tensor, ...], live: torch.Tensor):
    """Run `step` on the live rows only (beams of subsets not reached yet, or finished, are dead).

    Returns log-probabilities for every row (-inf for dead ones), the new state for every row, and
    which state tensors are static: handed back untouched by the step (the image grid), they are
    the same for every row of an image, as when repeated, and rows never move between images, so
    they need no reordering.
    """
    if bool(live.all()):
        log_probs, new_state = step(tokens, state)
        return log_probs, new_state, [new is old for new, old in zip(new_state, state)]
    rows = live.nonzero().squeeze(1)  # (L,)
    part = tuple(s.index_select(0, rows) for s in state)
    part_logp, new_part = step(tokens.index_select(0, rows), part)  # (L, V)
    static = [new is old for new, old in zip(new_part, part)]
    log_probs = part_logp.new_full((len(tokens), part_logp.shape[1]), NEG_INF)
    log_probs[rows] = part_logp
    new_state = []
    for old, new, keep in zip(state, new_part, static):
        if keep:
            new_state.append(old)
        else:
            full = old.clone() if old.shape[1:] == new.shape[1:] else new.new_zeros((len(tokens),) + new.shape[1:])
            full[rows] = new
            new_state.append(full)
    return log_probs, tuple(new_state), static


def _candidates(total: torch.Tensor, ctoks: torch.Tensor, cmasks: torch.Tensor, subset: torch.Tensor, k: int):
    """Best 2K continuations for every (image, subset) beam: scores, source rows and tokens, each (B, S, 2K).

    total: (B, S, K, V) running scores. A word stays in its beam unless it satisfies a constraint
    not yet met, in which case it moves to the beam of the larger subset.
    """
    batch, n_states, _, vocab = total.shape
    width = min(2 * k, k * vocab)
    base = torch.arange(batch * n_states).view(batch, n_states, 1) * k  # (B, S, 1) first row of each beam
    if ctoks.shape[1] == 0:  # no constraints anywhere: the plain beam search
        scores, index = total.view(batch, n_states, k * vocab).topk(width, dim=2)  # (B, S, 2K)
        return scores, base + index // vocab, index % vocab
    stay = total.clone()
    moves = cmasks.unsqueeze(1) & ~subset.view(1, -1, 1)  # (B, S, T) bits a word would add
    stay_block = torch.zeros(batch, n_states, vocab, dtype=torch.bool)
    stay_block.scatter_(2, ctoks.unsqueeze(1).expand(-1, n_states, -1), moves != 0)
    stay.masked_fill_(stay_block.unsqueeze(2), NEG_INF)
    stay_scores, stay_index = stay.view(batch, n_states, k * vocab).topk(width, dim=2)  # (B, S, 2K)
    stay_rows, stay_toks = base + stay_index // vocab, stay_index % vocab
    # moves: from beam s, word j -> beam s | mask_j, scored total[b, s, beam, tok_j]
    gathered = total.gather(3, ctoks.view(batch, 1, 1, -1).expand(-1, n_states, k, -1))  # (B, S, K, T)
    target = (subset.view(1, -1, 1) | cmasks.unsqueeze(1))  # (B, S, T)
    gathered = gathered.masked_fill((moves == 0).unsqueeze(2), NEG_INF)
    n_tok = ctoks.shape[1]
    move_scores = gathered.reshape(batch, -1)  # (B, S*K*T)
    move_target = target.unsqueeze(2).expand(-1, -1, k, -1).reshape(batch, -1)  # (B, S*K*T)
    move_rows = (base + torch.arange(k).view(1, 1, k)).unsqueeze(3).expand(-1, -1, -1, n_tok).reshape(batch, -1)
    move_toks = ctoks.view(batch, 1, 1, -1).expand(-1, n_states, k, -1).reshape(batch, -1)
    into = move_target.unsqueeze(1) == subset.view(1, -1, 1)  # (B, S_target, S*K*T)
    move_scores = move_scores.unsqueeze(1).masked_fill(~into, NEG_INF)  # (B, S, S*K*T)
    scores = torch.cat([stay_scores, move_scores], dim=2)
    rows = torch.cat([stay_rows, move_rows.unsqueeze(1).expand(-1, n_states, -1)], dim=2)
    toks = torch.cat([stay_toks, move_toks.unsqueeze(1).expand(-1, n_states, -1)], dim=2)
    top, index = scores.topk(width, dim=2)  # (B, S, 2K)
    return top, rows.gather(2, index), toks.gather(2, index)


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
    state: tuple[torch.Tensor, ...],
    bos_id: int,
    eos_id: int,
    config: SearchConfig | None = None,
    never: tuple[int, ...] = (),
    constraints: list[Constraints] | None = None,
    trace: TraceFn | None = None,
) -> list[Hypothesis]:
    """Most likely next word at every step (a beam of one per satisfied subset), one hypothesis per image."""
    greedy = replace(config or SearchConfig(), beam_size=1, length_penalty=0.0)
    return [hyps[0] for hyps in beam_search(step, state, bos_id, eos_id, greedy, never, constraints, trace)]


@torch.no_grad()
def sample_search(
    step: StepFn,
    state: tuple[torch.Tensor, ...],
    bos_id: int,
    eos_id: int,
    max_length: int,
    never: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One caption per row drawn word by word from the decoder's distribution (self-critical training).

    Returns ids (N, max_length + 1) ending in <end> (forced at the last step if not drawn earlier),
    padded with 0 after it. Ids in `never` are not drawn.
    """
    rows = state[0].shape[0]
    tokens = torch.full((rows,), bos_id, dtype=torch.long)
    out = torch.zeros(rows, max_length + 1, dtype=torch.long)  # (N, T)
    done = torch.zeros(rows, dtype=torch.bool)
    never_ids = torch.tensor(sorted(set(never)), dtype=torch.long)
    for t in range(max_length + 1):
        log_probs, state = step(tokens, state)  # (N, V)
        log_probs = log_probs.float()
        if len(never_ids):
            log_probs[:, never_ids] = NEG_INF
        if t == 0:
            log_probs[:, eos_id] = NEG_INF  # never an empty caption
        if t == max_length:
            tokens = torch.full((rows,), eos_id, dtype=torch.long)
        else:
            probs = log_probs.exp()  # (N, V)
            probs[done | (probs.sum(1) <= 0), eos_id] = 1.0  # finished rows (and rows with nothing left) end
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)
        out[:, t] = tokens.masked_fill(done, 0)
        done |= tokens == eos_id
        if bool(done.all()):
            break
    return out
