"""What beam and dvts share as strategy plugins: their config keys
(`SearchConfig`), their one-line checks, and how they build the search
(search.StepSearch, the engine loop)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bench.config.engines import traits
from bench.config.schema import (
    Config,
    ConfigError,
    ModelConfig,
    StrategyConfig,
    VerifierConfig,
    load_verifier,
)
from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.bon import check_reward_model
from bench.strategies.plugin import StrategyPlugin, check_sampling
from bench.strategies.search import SearchSettings, StepSearch


@dataclass
class SearchConfig(StrategyConfig):
    """strategy=beam / strategy=dvts: N (n) paths per problem, M (beam_width)
    expansions per kept path, a PRM (verifier) scoring every step."""

    beam_width: int = 4
    max_iterations: int = 40  # steps before what still thinks is stopped
    step_max_tokens: int = 64  # one step's longest generation


class SearchPlugin(StrategyPlugin):
    """What beam and dvts share; the subclass names the mode."""

    schema = SearchConfig
    samples = True
    searches = True
    whole_problems = True
    without_thinking = False
    tables = ("maj", "bon", "wbon")

    def settings(self, strategy_cfg: StrategyConfig) -> dict[str, Any]:
        cfg: Any = strategy_cfg
        return {
            "search": SearchSettings(
                mode=self.name,
                n=cfg.n,
                width=cfg.beam_width,
                max_iterations=cfg.max_iterations,
                step_max_tokens=cfg.step_max_tokens,
                delimiter="",  # the model's: build() sets it
                aggregate=cfg.step_aggregate,
            )
        }

    def reward_model(self, cfg: Config) -> VerifierConfig | None:
        return load_verifier(str(cfg.strategy.verifier))

    def check(self, cfg: Config) -> None:
        strategy: Any = cfg.strategy
        check_sampling(self, cfg)
        if not strategy.verifier:
            raise ConfigError(
                f"strategy={self.name} searches with a process reward model; set "
                "strategy.verifier=NAME (configs/verifier/, e.g. reference-prm)"
            )
        verifier = check_reward_model(cfg)
        if verifier.kind != "prm":
            raise ConfigError(
                f"strategy={self.name} scores every step, but verifier {verifier.name} is an "
                f"{verifier.kind.upper()} (one score per attempt); choose a PRM"
            )
        for key in ("beam_width", "max_iterations", "step_max_tokens"):
            if getattr(strategy, key) < 1:
                raise ConfigError(f"strategy.{key}={getattr(strategy, key)}; it must be at least 1")
        if strategy.n % strategy.beam_width:
            raise ConfigError(
                f"strategy.beam_width={strategy.beam_width} does not divide strategy.n="
                f"{strategy.n}; choose a width such as {_divisors(strategy.n)}"
            )
        if 0 in list(cfg.budget.tokens):
            raise ConfigError(
                f"strategy={self.name} searches over thinking steps; budget 0 has none: drop "
                "0 from budget.tokens"
            )
        engine = traits(cfg.engine.kind)
        if not (engine.runs_model or engine.scripted) and not verifier.base_url:
            raise ConfigError(
                f"strategy={self.name} scores steps on vLLM's pooling runner beside the policy; "
                f"with engine={cfg.engine.kind} give the verifier a server "
                f"(configs/verifier/{verifier.name}.yaml base_url)"
            )

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        search = replace(settings.search, delimiter=model_cfg.step_delimiter or "")
        return StepSearch(settings, search)


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)
