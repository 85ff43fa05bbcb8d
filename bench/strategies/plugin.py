"""A strategy as a plugin: what it is called, what it can do, its settings
and checks, and the object that runs it on an engine.

A module under bench/strategies/ that sets `PLUGIN = SomePlugin()` is a
strategy; configs/strategy/NAME.yaml selects it (`strategy=NAME`). The
config checks, the runner and the report ask the plugin (its capabilities
below), never compare strategy names. registry.py finds the plugins.
"""

from __future__ import annotations

from typing import Any

from bench.config.schema import (
    Config,
    ConfigError,
    EngineConfig,
    ModelConfig,
    StrategyConfig,
    VerifierConfig,
    has_non_thinking_mode,
)
from bench.strategies.base import ChainSettings, Strategy

# How a budget is kept: "cut": we cut the thinking at every budget and force
# the answer (exact); "native": the engine enforces it (vLLM's
# thinking_token_budget, exact); "advisory": a server is asked to keep it
# (a chat API's knob: thinking past it is a warning, not a failed run).
BUDGET_CONTROLS = ("cut", "native", "advisory")
# A greedy model (temperature 0, no published sampling) samples at this in a
# strategy that compares samples, unless strategy.temperature says otherwise.
GREEDY_MODEL_SAMPLING_TEMPERATURE = 0.7


class StrategyPlugin:
    """One way to spend a thinking budget. Subclasses set the class attributes
    and override what differs; the defaults describe `single`."""

    name = ""
    summary = ""  # one line, for `bench --help` and the docs
    # Its config keys: StrategyConfig, or a subclass of it that adds its own
    # (registered as strategy/NAME_schema; its YAML lists that in defaults).
    schema: type = StrategyConfig
    # Compares several samples per problem (votes, verifier picks): needs
    # strategy.n >= 2 and a sampling temperature.
    samples = False
    budget_control = "cut"  # one of BUDGET_CONTROLS
    messages = False  # sends chat messages (engine.api=chat), not token ids
    # Runs budget 0 (no thinking) and a model's non-thinking mode.
    without_thinking = True
    # Tables its records add to the report (analysis/voting.py methods).
    tables: tuple[str, ...] = ()
    # Scores partial chains while it generates (search): the sweep starts the
    # reward engine before generation and attaches it (Strategy.attach).
    searches = False
    # Yields each problem's attempts whole, and may keep fewer than n of them
    # (dvts keeps one per subtree): a problem is stored once sample 0 is.
    whole_problems = False

    def reward_model(self, cfg: Config) -> VerifierConfig | None:
        """The reward model that scores its stored attempts after generation
        (bench/sweep/verification.py), if its config names one; None by default."""
        return None

    @property
    def advisory(self) -> bool:
        return self.budget_control == "advisory"

    @property
    def native_budget(self) -> bool:
        return self.budget_control == "native"

    def temperature(
        self, model_cfg: ModelConfig, strategy_cfg: StrategyConfig | None = None
    ) -> float:
        """Its own override, else the model's (its non-thinking mode's when that
        runs); a greedy model samples at GREEDY_MODEL_SAMPLING_TEMPERATURE in a
        strategy that compares samples."""
        if strategy_cfg is not None and strategy_cfg.temperature is not None:
            return strategy_cfg.temperature
        sampling = model_cfg.sampling
        if getattr(model_cfg, "thinking", True) is False and has_non_thinking_mode(model_cfg):
            sampling = model_cfg.non_thinking.sampling
        if self.samples and sampling.temperature <= 0:
            return GREEDY_MODEL_SAMPLING_TEMPERATURE
        return sampling.temperature

    def settings(self, strategy_cfg: StrategyConfig) -> dict[str, Any]:
        """ChainSettings fields of its own (beyond the model's delimiters and sampling)."""
        return {}

    def check(self, cfg: Config) -> None:
        """Checks of its own settings; raise ConfigError with one line."""

    def check_engine(self, engine_cfg: EngineConfig, model_cfg: ModelConfig) -> None:
        """Before the engine starts: can this engine and model run it?"""

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        """The object that streams attempts from an engine (base.Strategy)."""
        raise NotImplementedError(f"strategy {self.name!r} does not say how it runs")


def check_sampling(plugin: StrategyPlugin, cfg: Config) -> None:
    """A strategy that compares samples needs several, and different ones."""
    strategy = cfg.strategy
    if strategy.n < 2:
        raise ConfigError(f"strategy={plugin.name} compares samples; set strategy.n to 2 or more")
    temperature = plugin.temperature(cfg.model, strategy)
    if temperature <= 0:
        raise ConfigError(
            f"strategy={plugin.name} needs sampling, but the temperature is {temperature} "
            "(greedy: every sample would be the same); set strategy.temperature, e.g. 0.7"
        )
