"""single -- one chain per problem; its thinking is cut at every budget and
the answer forced (chains.py: one generation serves every budget)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin

if TYPE_CHECKING:
    from bench.config.schema import ModelConfig


class Single(StrategyPlugin):
    name = "single"
    summary = "one chain per problem, cut at every budget and the answer forced"

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return SingleChain(settings)


PLUGIN = Single()
