"""How a thinking budget is spent: one module per way (see each module's docstring).

chains.py    single, wait, sc, bon: one generation per sample serves every budget
             (cut and force the answer; "Wait" extends; n samples per problem)
native.py    native: vLLM's own thinking_token_budget, one generation per budget
api.py       api: a hosted reasoning API's own budget knob, chat requests
verifiers.py how bon scores samples (self-certainty)
"""

from __future__ import annotations

from bench.strategies.api import ApiBudget
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


def make_strategy(name: str, settings: ChainSettings, model_cfg=None) -> Strategy:
    """`model_cfg`: strategy=api reads the model's budget knob from it."""
    strategies = {**STRATEGIES, "native": NativeBudget, "api": ApiBudget}
    if name == "api" and model_cfg is not None:
        return ApiBudget(settings, model_cfg.budget_knob, list(model_cfg.reasoning_effort))
    try:
        return strategies[name](settings)
    except KeyError:
        raise ValueError(
            f"strategy {name!r} is not known; choose one of: {', '.join(strategies)}"
        ) from None


__all__ = [
    "STRATEGIES",
    "ApiBudget",
    "AttemptResult",
    "NativeBudget",
    "ChainSettings",
    "SingleChain",
    "Strategy",
    "StrategyStats",
    "make_strategy",
    "thinking_length",
]
