"""sc -- self-consistency: n sampled chains per problem, each cut at every
budget like `single`; the answers are voted by equivalence class in analysis
(maj@k over k-subsets of the n samples, analysis/voting.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin, check_sampling

if TYPE_CHECKING:
    from bench.config.schema import Config, ModelConfig


class SelfConsistency(StrategyPlugin):
    name = "sc"
    summary = "n sampled chains per problem, answers voted (maj@k)"
    samples = True
    tables = ("maj",)

    def check(self, cfg: Config) -> None:
        check_sampling(self, cfg)

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return SingleChain(settings)


PLUGIN = SelfConsistency()
