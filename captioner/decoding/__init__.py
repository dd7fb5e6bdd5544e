"""Decoding: greedy, beam and sampling search over any decoder's step function."""

from captioner.decoding.search import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search, sample_search

__all__ = ["Constraints", "Hypothesis", "SearchConfig", "beam_search", "greedy_search", "sample_search"]
