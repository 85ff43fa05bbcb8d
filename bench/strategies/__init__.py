"""How a thinking budget is spent: one module per way (see each module's docstring).

chains.py  single: cap the thinking at each budget and force the answer, one
           generation serving every budget
"""

from __future__ import annotations

from bench.strategies.chains import (
    STRATEGIES,
    AttemptResult,
    ChainSettings,
    SingleChain,
    StrategyStats,
    make_strategy,
    thinking_length,
)

__all__ = [
    "STRATEGIES",
    "AttemptResult",
    "ChainSettings",
    "SingleChain",
    "StrategyStats",
    "make_strategy",
    "thinking_length",
]
