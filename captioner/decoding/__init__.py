"""Decoding: greedy and beam search over any decoder's step function."""

from captioner.decoding.search import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search

__all__ = ["Constraints", "Hypothesis", "SearchConfig", "beam_search", "greedy_search"]
