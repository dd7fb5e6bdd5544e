"""Beam and greedy search on a toy step function whose best path is known by hand."""

import math

import numpy as np
import pytest
import torch

from captioner.runtime.search import Constraints, SearchConfig, beam_search, greedy_search
from captioner.runtime.search.engine import blocked_tokens

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
    logp = np.full((len(tokens), 7), -1e9, dtype=np.float32)
    for row, (tok, k) in enumerate(zip(tokens.tolist(), kind[:, 0].tolist())):
        last = SWAP.get(tok, tok) if k else tok
        for nxt, p in TABLE.get(last, {}).items():  # <end> (a dead beam slot) leads nowhere
            logp[row, SWAP.get(nxt, nxt) if k else nxt] = math.log(p)
    return logp, state


def torch_step(tokens, state):
    """`step` on torch tensors, for the sampler (which runs on the decoder's own tensors)."""
    logp, _ = step(tokens.numpy(), (state[0].numpy(),))
    return torch.from_numpy(logp), state


def test_greedy_takes_the_locally_best_word():
    [hyp] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS)
    assert hyp.tokens == [A, B]
    assert math.isclose(hyp.log_prob, math.log(0.6 * 0.36 * 0.9), rel_tol=1e-5)


def test_beam_finds_the_globally_best_caption():
    config = SearchConfig(beam_size=2, length_penalty=0.0)
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, config)
    assert ranked[0].tokens == [B]
    assert math.isclose(ranked[0].log_prob, math.log(0.4 * 0.9), rel_tol=1e-5)
    assert ranked[1].tokens == [A, B]
    assert ranked[0].score >= ranked[1].score


def test_batched_images_are_searched_independently():
    config = SearchConfig(beam_size=2, length_penalty=0.0)
    ranked = beam_search(step, (np.array([[0.0], [1.0], [0.0]], np.float32),), BOS, EOS, config)
    assert [r[0].tokens for r in ranked] == [[B], [A], [B]]


def test_the_first_step_runs_once_per_image_then_once_per_beam_row():
    rows = []

    def counting(tokens, state):
        rows.append((len(tokens), len(state[0])))
        return step(tokens, state)

    kinds = np.array([[0.0], [1.0], [0.0]], np.float32)
    ranked = beam_search(counting, (kinds,), BOS, EOS, SearchConfig(beam_size=2, length_penalty=0.0))
    assert rows[0] == (3, 3) and rows[1] == (6, 6)  # <start> once per image; then both beams of each
    assert [r[0].tokens for r in ranked] == [[B], [A], [B]]


def test_one_images_static_state_stays_one_row_for_a_broadcasting_step():
    """A step marked `broadcasting` gets a single image's static state (the grid) as one row for all
    its beam rows, in steps of every row and of the live rows only; unmarked, or for several images,
    each row gets its copy. Same captions."""
    from captioner.runtime.search.engine import broadcasting

    seen = []  # (rows stepped, rows of the static part) per step

    def plain(tokens, state):
        seen.append((len(tokens), len(state[0])))
        logp, _ = step(tokens, (np.broadcast_to(state[0], (len(tokens), 1)),))
        return np.where(logp < -1e8, np.float32(-np.inf), logp), state  # impossible words: dead beam rows

    shared = broadcasting(lambda tokens, state: plain(tokens, state))  # the same step, marked
    config = SearchConfig(beam_size=3, length_penalty=0.0, max_length=4)
    for kinds in ([[0.0]], [[1.0]], [[0.0], [1.0]]):
        state = (np.array(kinds, np.float32),)
        want = beam_search(plain, state, BOS, EOS, config)
        copied = seen[1:]
        seen.clear()
        got = beam_search(shared, state, BOS, EOS, config)
        assert copied and all(rows == static for rows, static in copied)  # each stepped row has its copy
        assert any(rows < 3 * len(kinds) for rows, _ in copied)  # some steps ran the live rows only
        if len(kinds) == 1:
            assert {static for _, static in seen} == {1}  # one image: never copied
        else:
            assert seen[1:] == copied
        seen.clear()
        assert [[(h.tokens, h.log_prob) for h in r] for r in got] == [[(h.tokens, h.log_prob) for h in r] for r in want]


def test_length_penalty_can_prefer_longer_captions():
    short = SearchConfig(beam_size=3, length_penalty=0.0)
    long = SearchConfig(beam_size=3, length_penalty=3.0)
    state = (np.zeros((1, 1), np.float32),)
    assert len(beam_search(step, state, BOS, EOS, short)[0][0].tokens) == 1
    assert len(beam_search(step, state, BOS, EOS, long)[0][0].tokens) > 1


def test_max_length_forces_an_end():
    def chatter(tokens, state):  # never wants to stop
        logp = np.full((len(tokens), 7), -1e9, dtype=np.float32)
        logp[:, A], logp[:, B], logp[:, C], logp[:, EOS] = -0.1, -0.2, -0.3, -20.0
        return logp, state

    config = SearchConfig(beam_size=2, max_length=6, no_repeat_ngram=0)
    ranked = beam_search(chatter, (np.zeros((2, 1), np.float32),), BOS, EOS, config)[0]
    assert len(ranked) == 2 and len(ranked[0].tokens) == 6  # it wanted to go on: cut at exactly 6 words
    for hyp in ranked:
        assert len(hyp.tokens) <= 6
        assert all(x != y for x, y in zip(hyp.tokens, hyp.tokens[1:]))  # no word twice in a row


def test_blocked_tokens_repeat_word_and_ngrams():
    config = SearchConfig(no_repeat_ngram=3)
    assert set(blocked_tokens([A, B, C, A, B], config)) == {B, C}  # "A B" seen before "C"
    assert blocked_tokens([], config) == []
    assert blocked_tokens([A, B], SearchConfig(no_repeat_ngram=0, block_repeated_word=False)) == []


def test_a_word_is_never_repeated_across_a_joiner():
    """After "X and" the word X is blocked ("white and white"); other words and non-joiners are not."""
    config = SearchConfig(no_repeat_ngram=0, block_repeated_word=False)
    assert blocked_tokens([A, C], config, frozenset({C})) == [A]  # C plays "and"
    assert blocked_tokens([A, B], config, frozenset({C})) == []
    assert blocked_tokens([C], config, frozenset({C})) == []  # nothing before the joiner
    # in the search, three words exactly: [A, C, A] (.6 * .34 * .25) is second without joiners, gone with C one
    state = (np.zeros((1, 1), np.float32),)
    three = SearchConfig(beam_size=5, length_penalty=0.0, min_length=3, max_length=3)
    [free] = beam_search(step, state, BOS, EOS, three)
    [joined] = beam_search(step, state, BOS, EOS, three, joiners=frozenset({C}))
    assert free[1].tokens == [A, C, A] and [A, C, A] not in [h.tokens for h in joined]
    assert joined[0].tokens == free[0].tokens == [A, C, B] and [B, A, B] in [h.tokens for h in joined]  # A is no joiner
    # greedy too: after [A, B], A and C tie (.05); A comes first unless B joins
    plain = SearchConfig(min_length=3, max_length=3, block_repeated_word=False, no_repeat_ngram=0)
    assert greedy_search(step, state, BOS, EOS, plain)[0].tokens == [A, B, A]
    assert greedy_search(step, state, BOS, EOS, plain, joiners=frozenset({B}))[0].tokens == [A, B, C]


def test_never_list_is_respected():
    [hyp] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, never=(A,))
    assert A not in hyp.tokens


# ----- constrained beam search: best paths worked out by hand from TABLE (kind 0) -----
# caption: probability  [B] .36  [A,B] .1944  [A] .18  [A,C] .102  [A,C,B] .0459  [B,C] .01  [A,B,C] .0054
RAW = SearchConfig(beam_size=2, length_penalty=0.0)


def constrained(required=(), banned=(), config=RAW, kinds=(0.0,)):
    c = Constraints(tuple(frozenset(r) for r in required), frozenset(banned))
    state = (np.array([[k] for k in kinds], np.float32),)
    return beam_search(step, state, BOS, EOS, config, constraints=[c] * len(kinds))


def test_a_required_word_is_placed_where_the_caption_is_most_likely():
    [ranked] = constrained(required=[{C}])
    assert ranked[0].tokens == [A, C]  # .102 beats [A,B,C] .0054 and [B,C] .01
    assert math.isclose(ranked[0].log_prob, math.log(0.6 * 0.34 * 0.5), rel_tol=1e-5)
    assert all(C in h.tokens and h.satisfied == 1 for h in ranked)


def test_any_synonym_satisfies_a_constraint():
    [ranked] = constrained(required=[{C, B}])  # B or C: [B] (.36) is the best caption
    assert ranked[0].tokens == [B]


def test_two_constraints_must_both_be_met():
    [ranked] = constrained(required=[{A}, {C}])
    assert ranked[0].tokens == [A, C]
    assert ranked[0].satisfied == 2
    [ranked] = constrained(required=[{B}, {C}], config=SearchConfig(beam_size=3, length_penalty=0.0))
    # [A,C,B] .6*.34*.25*.9 = .0459 beats [B,C] .01 and [A,B,C] .0054
    assert ranked[0].tokens == [A, C, B]


def test_banned_words_are_never_emitted():
    [ranked] = constrained(banned={B})
    assert ranked[0].tokens == [A]  # [B] and [A,B] are gone; [A] .18 beats [A,C] .102
    assert all(B not in h.tokens for h in ranked)


def test_a_banned_ngram_is_never_completed_but_its_words_stay_free():
    # banning "A B": [B] .36 still wins; then [A] .18 and [A,C] .102, never [A,B] .1944
    state = (np.zeros((1, 1), np.float32),)
    banned = Constraints(banned_ngrams=((A, B),))
    [ranked] = beam_search(step, state, BOS, EOS, SearchConfig(beam_size=3, length_penalty=0.0), constraints=[banned])
    assert [h.tokens for h in ranked] == [[B], [A], [A, C]]
    [hyp] = greedy_search(step, state, BOS, EOS, constraints=[banned])
    assert hyp.tokens == [A, C]  # greedy: after A, B (.36) is banned, C (.34) is next
    # B and C required: [A,C,B] .0459 is the best (see below); with "A C B" banned, [A,C,A,B]
    # .6*.34*.25*.36*.9 = .0165 beats [B,C] .01 and [A,B,C] .0054
    three = Constraints((frozenset({B}), frozenset({C})), banned_ngrams=((A, C, B), (C, A, 99)))  # 99: out of range
    [ranked] = beam_search(step, state, BOS, EOS, SearchConfig(beam_size=5, length_penalty=0.0), constraints=[three])
    assert ranked[0].tokens == [A, C, A, B] and ranked[0].satisfied == 2
    assert math.isclose(ranked[0].log_prob, math.log(0.6 * 0.34 * 0.25 * 0.36 * 0.9), rel_tol=1e-5)


def test_ngram_endings_match_only_a_full_prefix():
    from captioner.runtime.search.engine import ngram_endings

    grams = ((A, B), (B, C, A), (C,))
    assert ngram_endings([], grams) == []  # nothing written: no two-word n-gram can end yet
    assert ngram_endings([A], grams) == [B]
    assert ngram_endings([C, A], grams) == [B]
    assert ngram_endings([B, C], grams) == [A]
    assert ngram_endings([A, C], grams) == []
    assert ngram_endings([B], grams) == []  # one-word "n-grams" are banned words' business


def test_an_unsatisfiable_constraint_falls_back_to_the_plain_caption():
    [ranked] = constrained(required=[{99}])  # not in the vocabulary
    [plain] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW)
    assert [h.tokens for h in ranked] == [h.tokens for h in plain]
    assert ranked[0].satisfied == 0


def test_constraints_are_per_image_in_a_batch():
    state = (np.array([[0.0], [1.0]], np.float32),)
    cons = [Constraints((frozenset({C}),)), Constraints()]
    first, second = beam_search(step, state, BOS, EOS, RAW, constraints=cons)
    assert first[0].tokens == [A, C]
    assert second[0].tokens == [A]  # kind 1 swaps A and B: its plain best is [A]


def test_attention_trace_follows_the_surviving_beams():
    def traced(tokens, state):  # attention = one-hot on the cell of the input token
        logp, _ = step(tokens, state[:1])
        return logp, (state[0], np.eye(7, dtype=np.float32)[tokens])

    [ranked] = beam_search(traced, (np.zeros((1, 1), np.float32), np.zeros((1, 7), np.float32)), BOS, EOS, RAW,
                           constraints=[Constraints((frozenset({C}),))], trace=lambda s: s[1])
    best = ranked[0]
    assert best.tokens == [A, C]
    # the word at position i was predicted after reading the token before it: <start>, then A
    assert [row.index(1.0) for row in best.attention] == [BOS, A]


def test_a_per_image_length_penalty():
    long = Constraints(length_penalty=3.0)
    [short_first], [long_first] = (beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW, constraints=[c])
                                   for c in (Constraints(), long))
    assert len(short_first[0].tokens) == 1 and len(long_first[0].tokens) > 1


def test_sampling_draws_captions_with_the_model_probabilities():
    from captioner.training.sampling import sample_search

    rows = 4000
    gen = torch.Generator().manual_seed(0)
    out = sample_search(torch_step, (torch.zeros(rows, 1),), BOS, EOS, max_length=5, generator=gen)  # (rows, 6)
    first = out[:, 0]
    assert abs((first == A).float().mean().item() - 0.6) < 0.03  # P(A | <start>) = 0.6
    after_b = out[first == B, 1]
    assert abs((after_b == EOS).float().mean().item() - 0.9) < 0.03  # P(<end> | B) = 0.9
    for seq in out.tolist():  # every row ends in <end>, padded with 0 after it, never empty
        end = seq.index(EOS)
        assert end >= 1 and all(t == PAD for t in seq[end + 1:]) and EOS not in seq[:end]


def test_sampling_respects_never_and_max_length():
    from captioner.training.sampling import sample_search

    gen = torch.Generator().manual_seed(1)
    out = sample_search(torch_step, (torch.ones(500, 1),), BOS, EOS, max_length=2, never=(C,), generator=gen)
    assert out.shape == (500, 3)
    assert not (out == C).any()
    assert (out[:, :2] != EOS).any(dim=1).all()  # a word before <end>
    assert ((out == EOS).sum(1) == 1).all()  # <end> is forced at the last step when not drawn before
    assert (out[:, 0] == B).float().mean() > 0.5  # image kind 1 swaps A and B: P(B | <start>) = 0.6


# ----- a decoder whose next word depends on its state: search must carry each beam's own state -----
def stateful_step(tokens, state):
    """The state counts the B words so far; after one B, <end> is likely; after two, only <end>."""
    (count,) = state  # (batch, 1)
    count = count + (tokens == B).astype(np.float32)[:, None]
    logp = np.full((len(tokens), 7), -1e9, dtype=np.float32)
    for row, c in enumerate(count[:, 0].tolist()):
        probs = {A: 0.5, B: 0.3, C: 0.2} if c == 0 else ({EOS: 0.6, A: 0.3, C: 0.1} if c == 1 else {EOS: 1.0})
        for tok, p in probs.items():
            logp[row, tok] = math.log(p)
    return logp, (count,)


def _replay(step_fn, state, tokens):
    """The log-probability of `tokens` + <end>, stepping the decoder from scratch (independent of search)."""
    total, prev = 0.0, np.array([BOS])
    for tok in tokens + [EOS]:
        logp, state = step_fn(prev, state)
        total += float(logp[0, tok])
        prev = np.array([tok])
    return total


def test_every_hypothesis_scores_what_its_own_state_gives():
    config = SearchConfig(beam_size=3, length_penalty=0.0, no_repeat_ngram=0, block_repeated_word=False, max_length=6)
    [ranked] = beam_search(stateful_step, (np.zeros((1, 1), np.float32),), BOS, EOS, config)
    assert len(ranked) == 3
    for hyp in ranked:
        assert hyp.log_prob == pytest.approx(_replay(stateful_step, (np.zeros((1, 1), np.float32),), hyp.tokens), abs=1e-4)
    # worked by hand: "B <end>" = 0.3 * 0.6 = 0.18 beats "A B <end>" = 0.5 * 0.3 * 0.6 = 0.09
    assert ranked[0].tokens == [B] and ranked[0].log_prob == pytest.approx(math.log(0.18), abs=1e-4)


def test_length_penalty_counts_the_end_token():
    alpha = 0.7
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, SearchConfig(beam_size=3, length_penalty=alpha))
    assert ranked
    for hyp in ranked:
        assert hyp.score == pytest.approx(hyp.log_prob / (len(hyp.tokens) + 1) ** alpha)


def test_min_length_keeps_the_end_away():
    config = SearchConfig(beam_size=2, min_length=3, no_repeat_ngram=0, block_repeated_word=False)
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, config)
    assert ranked and all(len(h.tokens) >= 3 for h in ranked)
    [greedy] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, config)
    assert len(greedy.tokens) >= 3


def test_real_decoder_hypotheses_replay_to_their_log_probabilities():
    from captioner.training.bundle import load_bundle

    from captioner.training.networks.torch_runner import TorchRunner

    bundle = load_bundle("default")
    decoder = TorchRunner(bundle.decoder)
    rng = np.random.default_rng(3)
    pooled, grid = rng.random((2, 1280), np.float32), rng.random((2, 81, 1280), np.float32)
    never = (0, 1, 3) + tuple(range(bundle.trained_size, len(bundle.vocab)))
    found = beam_search(decoder.step, decoder.init_state(pooled, grid), 1, 2, SearchConfig(beam_size=4), never)
    for b, ranked in enumerate(found):
        assert len(ranked) == 4
        for hyp in ranked:
            replayed = _replay(decoder.step, decoder.init_state(pooled[b:b + 1], grid[b:b + 1]), hyp.tokens)
            assert hyp.log_prob == pytest.approx(replayed, abs=2e-3)


def test_greedy_ranks_by_raw_log_probability_and_passes_constraints_and_trace():
    [hyp] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, SearchConfig(length_penalty=2.0))
    assert hyp.score == pytest.approx(hyp.log_prob)  # greedy ignores the length penalty
    [forced] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, None, (), [Constraints(required=(frozenset({C}),))])
    assert C in forced.tokens and forced.satisfied == 1
    [traced] = greedy_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, None, (), None,
                             lambda state: np.full((state[0].shape[0], 2), 0.5, np.float32))
    assert traced.attention is not None and len(traced.attention) == len(traced.tokens)  # one grid per word


# ----- the numpy helpers, against plain-Python references -----
def test_topk_is_a_stable_sort_by_score_on_any_leading_shape():
    from captioner.runtime.search.engine import _topk

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(3, 4, 9)).astype(np.float32)  # many ties
    scores[0, 0, 2] = -np.inf
    scores[1, 2, 1:] = -np.inf  # one value above -inf: wider top-ks hold -inf at distinct indices
    for width in (1, 2, 3, 9):  # 1, 2: argmax passes; 9: every candidate (no partition needed)
        values, index = _topk(scores, width)
        assert values.shape == index.shape == (3, 4, width)
        for b in range(3):
            for s in range(4):
                row = scores[b, s].tolist()
                expected = sorted(range(9), key=lambda i: (-row[i], i))[:width]  # best first, ties by lower index
                assert values[b, s].tolist() == [row[i] for i in expected]
                assert [row[i] for i in index[b, s]] == values[b, s].tolist()  # indices point at those values
                assert len(set(index[b, s].tolist())) == width
                for i, j in zip(index[b, s][:-1], index[b, s][1:]):
                    assert row[i] > row[j] or (row[i] == row[j] and i < j)  # equal values: lower index first
                if width == 9:
                    assert index[b, s].tolist() == expected
    distinct = rng.permutation(200).astype(np.float32).reshape(2, 100)  # no ties: the exact top 10
    values, index = _topk(distinct, 10)
    for r in range(2):
        assert index[r].tolist() == list(np.argsort(-distinct[r])[:10])


def test_topk_of_one_peaked_row_matches_a_stable_sort():
    """One image's beams make one row of K x V scores: its top-k comes from the values near the best
    (NEAR_MARGIN) when enough are, else from the partition; either way the stable sort's answer."""
    from captioner.runtime.search.engine import NEAR_MARGIN, _topk

    rng = np.random.default_rng(2)
    n = 5 * 2600
    peaked = rng.integers(-60, -30, size=n).astype(np.float32)  # far below the best
    peaked[rng.choice(n, 40, replace=False)] = rng.integers(-4, 0, size=40)  # a few near it, with ties
    flat_ties = np.full(n, -50.0, np.float32)  # fewer than `width` near the best: the partition path
    flat_ties[[7, 300, 9000]] = [-1.0, -2.0, -1.0]
    spread = np.linspace(-NEAR_MARGIN * 4, 0, n).astype(np.float32)[rng.permutation(n)]  # many near: partition
    for row in (peaked, flat_ties, spread):
        for width in (3, 10):
            values, index = _topk(row.reshape(1, 1, n), width)
            want = sorted(range(n), key=lambda i: (-row[i], i))[:width]
            assert values[0, 0].tolist() == [float(row[i]) for i in want]
            assert row[index[0, 0]].tolist() == values[0, 0].tolist() and len(set(index[0, 0].tolist())) == width
            if row is peaked:
                assert index[0, 0].tolist() == want  # ties at the cut-off: the lower index


def test_a_word_in_two_constraints_satisfies_both_and_out_of_range_ids_are_ignored():
    both = Constraints((frozenset({C}), frozenset({C, 99})))  # 99 is outside the 7-word vocabulary
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW, constraints=[both])
    assert ranked[0].tokens == [A, C] and ranked[0].satisfied == 2
    impossible = Constraints((frozenset({-1, 7}),))  # no id in range: cannot be satisfied
    [plain] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW)
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW, constraints=[impossible])
    assert [h.tokens for h in ranked] == [h.tokens for h in plain] and ranked[0].satisfied == 0
    banned = Constraints(banned=frozenset({B, 7, -3}))  # out-of-range bans are ignored, B is never said
    [ranked] = beam_search(step, (np.zeros((1, 1), np.float32),), BOS, EOS, RAW, constraints=[banned])
    assert ranked and all(B not in h.tokens for h in ranked)


def test_a_state_that_grows_each_step_is_carried_for_live_and_dead_rows():
    """The step returns a longer history than it was given (a state part changing shape), and
    constrained search starts with dead rows: each hypothesis must still see its own history."""

    def growing(tokens, state):
        kind, history = state  # (N, 1), (N, t)
        logp, _ = step(tokens, (kind,))
        return logp, (kind, np.concatenate([history, tokens[:, None].astype(np.float32)], axis=1))

    seen = {}

    def trace(state):
        for row in state[1].tolist():
            seen.setdefault(len(row), set()).add(tuple(row))
        return np.zeros((len(state[1]), 1), np.float32)

    state = (np.zeros((1, 1), np.float32), np.zeros((1, 0), np.float32))
    [ranked] = beam_search(growing, state, BOS, EOS, RAW, constraints=[Constraints((frozenset({C}),))], trace=trace)
    assert ranked[0].tokens == [A, C]
    assert (BOS, A) in seen[2]  # the history of the best caption's prefix: <start>, then A
    assert seen[1] == {(BOS,)}  # the first step runs once per image and every beam gets its copy
    for rows in seen.values():  # a live row's history starts at <start>; a dead row's is the zero placeholder
        assert all(row[0] == BOS or not any(row) for row in rows)
    assert any(not any(row) for row in seen[2])  # there were dead rows


def test_constrained_hypotheses_score_what_their_own_state_gives():
    """Words that satisfy a constraint move hypotheses between beams, from any slot: each result's
    log-probability must still be its own caption's, replayed from scratch."""
    config = SearchConfig(beam_size=3, length_penalty=0.0, no_repeat_ngram=0, block_repeated_word=False, max_length=6)
    for required in ({C}, {A}, {C, A}):
        [ranked] = beam_search(stateful_step, (np.zeros((1, 1), np.float32),), BOS, EOS, config,
                               constraints=[Constraints((frozenset(required),))])
        assert len(ranked) == 3
        for hyp in ranked:
            assert set(hyp.tokens) & required and hyp.satisfied == 1
            replayed = _replay(stateful_step, (np.zeros((1, 1), np.float32),), hyp.tokens)
            assert hyp.log_prob == pytest.approx(replayed, rel=1e-6, abs=1e-4)  # float32 running sums
