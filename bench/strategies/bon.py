"""bon -- best-of-N: n sampled chains per problem, scored by a verifier
(verifiers.py; self_certainty reads the policy's own top-k log-probabilities,
so the engine returns them); analysis keeps the best (bon@k) and weights
votes by score (wbon@k)."""

from __future__ import annotations

from typing import Any

from bench.config import Config, ConfigError, ModelConfig, StrategyConfig
from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin, check_sampling
from bench.strategies.verifiers import VERIFIERS


class BestOfN(StrategyPlugin):
    name = "bon"
    summary = "n sampled chains per problem, the verifier's pick (bon@k, wbon@k)"
    samples = True
    tables = ("maj", "bon", "wbon")

    def settings(self, strategy_cfg: StrategyConfig) -> dict[str, Any]:
        return {"logprobs": strategy_cfg.logprobs}

    def check(self, cfg: Config) -> None:
        check_sampling(self, cfg)
        verifier = cfg.strategy.verifier
        if verifier not in VERIFIERS:
            raise ConfigError(
                f"strategy.verifier={verifier!r} is not known; choose one of: {', '.join(VERIFIERS)}"
            )
        if cfg.strategy.logprobs < 1:
            raise ConfigError("strategy.logprobs must be at least 1 for self_certainty")

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return SingleChain(settings)


PLUGIN = BestOfN()
