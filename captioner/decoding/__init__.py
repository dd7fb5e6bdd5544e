"""Decoding: greedy and beam search over any decoder's step function."""

from captioner.decoding.search import Hypothesis, SearchConfig, beam_search, greedy_search

__all__ = ["Hypothesis", "SearchConfig", "beam_search", "greedy_search"]
