"""How a thinking budget is spent: one module per way (see each module's docstring).

chains.py    single, wait, sc, bon: one generation per sample serves every budget
             (cut and force the answer; "Wait" extends; n samples per problem)
native.py    native: vLLM's own thinking_token_budget, one generation per budget
verifiers.py how bon scores samples (self-certainty)
"""

from __future__ import annotations

from bench.strategies.chains import (
    STRATEGIES,
    AttemptResult,
    ChainSettings,
    SingleChain,
    Strategy,
    StrategyStats,
    thinking_length,
)
from bench.strategies.native import NativeBudget


def make_strategy(name: str, settings: ChainSettings) -> Strategy:
    strategies = {**STRATEGIES, "native": NativeBudget}
    try:
        return strategies[name](settings)
    except KeyError:
        raise ValueError(
            f"strategy {name!r} is not known; choose one of: {', '.join(strategies)}"
        ) from None


__all__ = [
    "STRATEGIES",
    "AttemptResult",
    "NativeBudget",
    "ChainSettings",
    "SingleChain",
    "Strategy",
    "StrategyStats",
    "make_strategy",
    "thinking_length",
]
