"""wait -- s1's budget forcing that extends thinking: a chain that ends its
thinking before the largest budget has the delimiter suppressed and
strategy.wait appended, up to strategy.max_extensions times; every budget then
cuts that chain like `single` (chains.py)."""

from __future__ import annotations

from typing import Any

from bench.config.schema import Config, ConfigError, ModelConfig, StrategyConfig
from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin


class Wait(StrategyPlugin):
    name = "wait"
    summary = 'one chain, extended with "Wait" when it ends early, cut at every budget'
    without_thinking = False  # nothing to extend

    def settings(self, strategy_cfg: StrategyConfig) -> dict[str, Any]:
        return {"wait": strategy_cfg.wait, "max_extensions": strategy_cfg.max_extensions}

    def check(self, cfg: Config) -> None:
        if cfg.strategy.max_extensions < 1:
            raise ConfigError(
                "strategy=wait extends thinking; set strategy.max_extensions to 1 or more"
            )

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return SingleChain(settings)


PLUGIN = Wait()
