"""bon -- best-of-N: n sampled chains per problem, scored by a verifier
(verifiers.py; self_certainty reads the policy's own top-k log-probabilities,
so the engine returns them; a process or outcome reward model,
configs/verifier/NAME.yaml, scores the stored attempts in the sweep's
verification phase, bench/sweep/verification.py); analysis keeps the best
(bon@k) and weights votes by score (wbon@k)."""

from __future__ import annotations

from typing import Any

from bench.config.schema import (
    VERIFIER_FAMILIES,
    VERIFIER_KINDS,
    Config,
    ConfigError,
    ModelConfig,
    StrategyConfig,
    VerifierConfig,
    load_verifier,
)
from bench.strategies.base import ChainSettings, Strategy
from bench.strategies.chains import SingleChain
from bench.strategies.plugin import StrategyPlugin, check_sampling
from bench.strategies.verifiers import STEP_AGGREGATES, VERIFIERS


class BestOfN(StrategyPlugin):
    name = "bon"
    summary = "n sampled chains per problem, the verifier's pick (bon@k, wbon@k)"
    samples = True
    tables = ("maj", "bon", "wbon")

    def settings(self, strategy_cfg: StrategyConfig) -> dict[str, Any]:
        # Only self-certainty reads the policy's log-probabilities; a reward
        # model scores the stored attempts afterwards (bench/sweep/verification.py).
        own = strategy_cfg.verifier in VERIFIERS
        return {"logprobs": strategy_cfg.logprobs if own else None}

    def check(self, cfg: Config) -> None:
        check_sampling(self, cfg)
        verifier = cfg.strategy.verifier
        if verifier in VERIFIERS:
            if cfg.strategy.logprobs < 1:
                raise ConfigError("strategy.logprobs must be at least 1 for self_certainty")
            return
        check_reward_model(cfg)

    def reward_model(self, cfg: Config) -> VerifierConfig | None:
        if cfg.strategy.verifier in VERIFIERS:
            return None
        return load_verifier(str(cfg.strategy.verifier))

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return SingleChain(settings)


def check_reward_model(cfg: Config) -> VerifierConfig:
    """`strategy.verifier` names a reward model this policy and engine can use."""
    verifier = load_verifier(str(cfg.strategy.verifier))
    if verifier.kind not in VERIFIER_KINDS:
        raise ConfigError(
            f"configs/verifier/{verifier.name}.yaml: kind={verifier.kind!r}; choose one of: "
            f"{', '.join(VERIFIER_KINDS)}"
        )
    if verifier.family not in VERIFIER_FAMILIES:
        raise ConfigError(
            f"configs/verifier/{verifier.name}.yaml: family={verifier.family!r}; choose one "
            f"of: {', '.join(VERIFIER_FAMILIES)}"
        )
    if verifier.family != "rlhflow" and not verifier.step_tag and verifier.step_tag_id is None:
        raise ConfigError(
            f"configs/verifier/{verifier.name}.yaml has no step tag: a {verifier.family} "
            'verifier reads its score at one (set step_tag, e.g. step_tag: "<extra_0>")'
        )
    if verifier.family in ("math-shepherd", "rlhflow") and len(verifier.label_tokens) != 2:
        raise ConfigError(
            f"configs/verifier/{verifier.name}.yaml: a {verifier.family} verifier needs "
            'label_tokens: [good, bad], e.g. ["+", "-"]'
        )
    if verifier.kind == "prm" and not cfg.model.step_delimiter:
        raise ConfigError(
            f"strategy.verifier={verifier.name} scores every step, but model "
            f"{cfg.model.name} has no step delimiter; set model.step_delimiter "
            '("," for the chain models, "\\n\\n" for math models)'
        )
    if cfg.strategy.step_aggregate not in STEP_AGGREGATES:
        raise ConfigError(
            f"strategy.step_aggregate={cfg.strategy.step_aggregate!r}; choose one of: "
            f"{', '.join(STEP_AGGREGATES)}"
        )
    return verifier


PLUGIN = BestOfN()
