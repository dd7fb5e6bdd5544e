"""Greedy and beam search, batched over images, for any `step(tokens, state) -> (log_probs, state)`.

A state is a tuple of tensors with the batch (times beam) as first dimension, so hypotheses are
reordered with `index_select`. Beam scores are length-normalised as log_prob / length**alpha, and
hypotheses may not repeat an n-gram or the word just emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

StepFn = Callable[[torch.Tensor, tuple[torch.Tensor, ...]], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]


@dataclass
class SearchConfig:
    beam_size: int = 5  # chosen on the validation split (scripts/tune_search.sh)
    max_length: int = 25  # words, not counting <end>
    min_length: int = 1  # an empty caption is never an answer
    length_penalty: float = 1.0  # alpha; 0 ranks by raw log-probability
    no_repeat_ngram: int = 3  # 0 disables
    block_repeated_word: bool = True  # never the same word twice in a row


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <start> and <end>
    log_prob: float
    score: float  # length-normalised log_prob


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


@torch.inference_mode()
def beam_search(
    step: StepFn,
    state: tuple[torch.Tensor, ...],
    bos_id: int,
    eos_id: int,
    config: SearchConfig = SearchConfig(),
    never: tuple[int, ...] = (),
) -> list[list[Hypothesis]]:
    """Best `beam_size` hypotheses per image, best first. `never` lists ids never to emit (pad, unk)."""
    batch = state[0].shape[0]
    k = max(1, config.beam_size)
    state = tuple(s.repeat_interleave(k, dim=0) for s in state)  # (B*K, ...)
    tokens = torch.full((batch * k,), bos_id, dtype=torch.long)
    seqs: list[list[int]] = [[] for _ in range(batch * k)]
    beam_scores = torch.full((batch, k), float("-inf"))
    beam_scores[:, 0] = 0.0  # only the first copy of each image is live at the start
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    for t in range(config.max_length + 1):
        log_probs, state = step(tokens, state)  # (B*K, V)
        log_probs = log_probs.float().clone()
        vocab = log_probs.shape[1]
        if never:
            log_probs[:, list(never)] = float("-inf")
        if t < config.min_length:
            log_probs[:, eos_id] = float("-inf")
        if t == config.max_length:  # out of room: only <end> may follow
            eos_column = log_probs[:, eos_id].clone()
            log_probs.fill_(float("-inf"))
            log_probs[:, eos_id] = eos_column
        rows, cols = [], []
        for row, seq in enumerate(seqs):
            for tok in blocked_tokens(seq, config):
                rows.append(row)
                cols.append(tok)
        if rows:
            log_probs[rows, cols] = float("-inf")
        total = (beam_scores.view(-1, 1) + log_probs).view(batch, k * vocab)
        top_scores, top_index = total.topk(min(2 * k, k * vocab), dim=1)  # (B, 2K)
        next_rows, next_tokens, next_scores = [], [], []
        for b in range(batch):
            chosen = 0
            if not done[b]:
                for score, index in zip(top_scores[b].tolist(), top_index[b].tolist()):
                    if score == float("-inf") or chosen == k:
                        break
                    src, tok = b * k + index // vocab, index % vocab
                    if tok == eos_id:
                        length = len(seqs[src]) + 1
                        finished[b].append(Hypothesis(seqs[src], score, _normalise(score, length, config.length_penalty)))
                    else:
                        next_rows.append(src)
                        next_tokens.append(tok)
                        next_scores.append(score)
                        chosen += 1
                done[b] = len(finished[b]) >= k or chosen == 0
            for _ in range(k - chosen):  # dead slots keep a placeholder with score -inf
                next_rows.append(b * k)
                next_tokens.append(eos_id)
                next_scores.append(float("-inf"))
        if all(done):
            break
        index = torch.tensor(next_rows)
        state = tuple(s.index_select(0, index) for s in state)
        tokens = torch.tensor(next_tokens)
        seqs = [seqs[r] + [tok] for r, tok in zip(next_rows, next_tokens)]
        beam_scores = torch.tensor(next_scores).view(batch, k)
    results = []
    for b in range(batch):
        ranked = sorted(finished[b], key=lambda h: h.score, reverse=True)
        results.append(ranked[:k])
    return results


def greedy_search(
    step: StepFn,
    state: tuple[torch.Tensor, ...],
    bos_id: int,
    eos_id: int,
    config: SearchConfig = SearchConfig(),
    never: tuple[int, ...] = (),
) -> list[Hypothesis]:
    """Most likely next word at every step (a beam of one), one hypothesis per image."""
    greedy = replace(config, beam_size=1, length_penalty=0.0)
    return [hyps[0] for hyps in beam_search(step, state, bos_id, eos_id, greedy, never)]
