"""sc -- self-consistency: n sampled chains per problem, each cut at every
budget like `single`; the answers are voted by equivalence class in analysis
(maj@k over k-subsets of the n samples, analysis/voting.py)."""

from __future__ import annotations

from typing import Any

from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin, check_sampling


class SelfConsistency(StrategyPlugin):
    name = "sc"
    summary = "n sampled chains per problem, answers voted (maj@k)"
    samples = True
    tables = ("maj",)

    def check(self, cfg: Any) -> None:
        check_sampling(self, cfg)

    def build(self, settings: ChainSettings, model_cfg: Any) -> Strategy:
        return SingleChain(settings)


PLUGIN = SelfConsistency()
