"""Self-certainty of one next-token distribution (Kang et al. 2025, "Scalable
Best-of-N Selection for Large Language Models via Self-Certainty").

Engines turn the top-k log-probabilities they return into one number per
generated token here; strategies/verifiers.py averages them into an
attempt's score for best-of-N.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def self_certainty(top_logprobs: Sequence[float]) -> float:
    """KL(uniform || p) restricted to the k returned tokens:
    -(1/k) * sum(log p_j) - log k. 0 for a flat top-k, large for a peaked one."""
    values = [v for v in top_logprobs if v is not None and math.isfinite(v)]
    if not values:
        return math.nan
    return -sum(values) / len(values) - math.log(len(values))
