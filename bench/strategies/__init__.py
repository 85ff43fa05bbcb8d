"""How a thinking budget is spent: one plugin module per strategy.

base.py      settings, attempts and the Strategy interface every strategy shares
job.py       what a strategy is asked to do (Job, ProblemRequest), the seed formula,
             and the gather of each problem's attempts
plugin.py    what a strategy declares (capabilities, settings, checks, runner)
registry.py  finds every module here that sets PLUGIN; checks a config against it
chains.py    the cut-and-force engine loop that single, wait, sc and bon share:
             one generation per sample serves every budget
single.py, sc.py, bon.py, wait.py
             the strategies on that loop (one chain; n voted samples; a
             verifier's pick; "Wait" extensions)
native.py    native: vLLM's own thinking_token_budget, one generation per budget
api.py       api: a hosted reasoning API's own budget knob, chat requests
verifiers.py how bon scores samples (self-certainty)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.strategies.base import (
    AttemptResult,
    ChainSettings,
    Strategy,
    StrategyStats,
    thinking_length,
)
from bench.strategies.chains import SingleChain
from bench.strategies.job import Gather, Job, ProblemRequest
from bench.strategies.plugin import StrategyPlugin
from bench.strategies.registry import check_config, find, get, plugins

if TYPE_CHECKING:
    from bench.config.schema import ModelConfig


def make_strategy(
    name: str, settings: ChainSettings, model_cfg: ModelConfig | None = None
) -> Strategy:
    """The runnable strategy called `name` (ConfigError naming the known ones otherwise)."""
    return get(name).build(settings, model_cfg)


__all__ = [
    "AttemptResult",
    "ChainSettings",
    "Gather",
    "Job",
    "ProblemRequest",
    "SingleChain",
    "Strategy",
    "StrategyPlugin",
    "StrategyStats",
    "check_config",
    "find",
    "get",
    "make_strategy",
    "plugins",
    "thinking_length",
]
