"""Verifiers score an attempt; best-of-N keeps the highest-scoring sample.

self_certainty -- from the policy's own next-token distributions, no second
model (Kang et al. 2025, "Scalable Best-of-N Selection for Large Language
Models via Self-Certainty"): the KL divergence of the distribution from
uniform, here over the engine's top-k log-probabilities per token,
averaged over every token the model generated for the attempt. A peaked
(confident) distribution scores high, a flat one near 0. It costs no extra
tokens, and works on any engine that returns log-probabilities.

A process or outcome reward model (configs/verifier/, bench/engines/reward.py)
is a second engine that scores the stored attempts; a PRM's step scores
become one by `aggregate_steps` (strategy.step_aggregate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.engines.certainty import self_certainty

VERIFIERS = ("self_certainty",)
STEP_AGGREGATES = ("last", "min", "prod")

__all__ = ["STEP_AGGREGATES", "VERIFIERS", "aggregate_steps", "self_certainty"]


def aggregate_steps(step_scores: Sequence[float], how: str = "last") -> float:
    """One score from a process reward model's per-step scores."""
    if how not in STEP_AGGREGATES:
        raise ValueError(f"step aggregate {how!r}; choose one of: {', '.join(STEP_AGGREGATES)}")
    if not step_scores:
        return math.nan
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(min(step_scores))
    return float(math.prod(step_scores))
