"""Beam and greedy search on a toy step function whose best path is known by hand."""

import math

import torch

from captioner.decoding import SearchConfig, beam_search, greedy_search
from captioner.decoding.search import blocked_tokens

PAD, BOS, EOS, UNK, A, B, C = range(7)
# P(next | last word) for image kind 0; image kind 1 swaps the roles of A and B.
TABLE = {
    BOS: {A: 0.6, B: 0.4},
    A: {EOS: 0.30, B: 0.36, C: 0.34},
    B: {EOS: 0.90, A: 0.05, C: 0.05},
    C: {EOS: 0.50, A: 0.25, B: 0.25},
}
SWAP = {A: B, B: A}


def step(tokens, state):
    (kind,) = state  # (batch, 1)
    logp = torch.full((len(tokens), 7), -1e9)
    for row, (tok, k) in enumerate(zip(tokens.tolist(), kind[:, 0].tolist())):
        last = SWAP.get(tok, tok) if k else tok
        for nxt, p in TABLE[last].items():
            logp[row, SWAP.get(nxt, nxt) if k else nxt] = math.log(p)
    return logp, state


def test_greedy_takes_the_locally_best_word():
    [hyp] = greedy_search(step, (torch.zeros(1, 1),), BOS, EOS)
    assert hyp.tokens == [A, B]
    assert math.isclose(hyp.log_prob, math.log(0.6 * 0.36 * 0.9), rel_tol=1e-5)


def test_beam_finds_the_globally_best_caption():
    config = SearchConfig(beam_size=2, length_penalty=0.0)
    [ranked] = beam_search(step, (torch.zeros(1, 1),), BOS, EOS, config)
    assert ranked[0].tokens == [B]
    assert math.isclose(ranked[0].log_prob, math.log(0.4 * 0.9), rel_tol=1e-5)
    assert ranked[1].tokens == [A, B]
    assert ranked[0].score >= ranked[1].score


def test_batched_images_are_searched_independently():
    config = SearchConfig(beam_size=2, length_penalty=0.0)
    ranked = beam_search(step, (torch.tensor([[0.0], [1.0], [0.0]]),), BOS, EOS, config)
    assert [r[0].tokens for r in ranked] == [[B], [A], [B]]


def test_length_penalty_can_prefer_longer_captions():
    short = SearchConfig(beam_size=3, length_penalty=0.0)
    long = SearchConfig(beam_size=3, length_penalty=3.0)
    state = (torch.zeros(1, 1),)
    assert len(beam_search(step, state, BOS, EOS, short)[0][0].tokens) == 1
    assert len(beam_search(step, state, BOS, EOS, long)[0][0].tokens) > 1


def test_max_length_forces_an_end():
    def chatter(tokens, state):  # never wants to stop
        logp = torch.full((len(tokens), 7), -1e9)
        logp[:, A], logp[:, B], logp[:, C], logp[:, EOS] = -0.1, -0.2, -0.3, -20.0
        return logp, state

    config = SearchConfig(beam_size=2, max_length=6, no_repeat_ngram=0)
    for hyp in beam_search(chatter, (torch.zeros(2, 1),), BOS, EOS, config)[0]:
        assert len(hyp.tokens) <= 6
        assert all(x != y for x, y in zip(hyp.tokens, hyp.tokens[1:]))  # no word twice in a row


def test_blocked_tokens_repeat_word_and_ngrams():
    config = SearchConfig(no_repeat_ngram=3)
    assert set(blocked_tokens([A, B, C, A, B], config)) == {B, C}  # "A B" seen before "C"
    assert blocked_tokens([], config) == []
    assert blocked_tokens([A, B], SearchConfig(no_repeat_ngram=0, block_repeated_word=False)) == []


def test_never_list_is_respected():
    [hyp] = greedy_search(step, (torch.zeros(1, 1),), BOS, EOS, never=(A,))
    assert A not in hyp.tokens
