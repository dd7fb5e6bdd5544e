"""Decoding: greedy, beam and constrained beam search (numpy) over any decoder's step function.

Sampling for self-critical training is `captioner.training.sampling.sample_search` (torch).
"""

from captioner.runtime.search.engine import Constraints, Hypothesis, SearchConfig, beam_search, greedy_search

__all__ = ["Constraints", "Hypothesis", "SearchConfig", "beam_search", "greedy_search"]
