"""Every config group composes; typos and bad values fail with a message that names them."""

from __future__ import annotations

import itertools

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from bench.config.checks import validate_budgets
from bench.config.schema import CONFIG_DIR, ENGINE_KINDS, ConfigError
from bench.sweep.compose import validate


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


GROUPS = ["model", "engine", "suite", "budget", "strategy", "pricing"]


def test_every_group_has_options():
    for group in GROUPS:
        assert _options(group), group


def _combinations() -> list[tuple[str, ...]]:
    """Every model with every strategy (their settings interact: sampling,
    reasoning markers), every budget with every model (context length), and
    every engine and suite once; the full product is thousands of configs."""
    combos = [
        (f"model={m}", f"strategy={s}")
        for m, s in itertools.product(_options("model"), _options("strategy"))
    ]
    combos += [
        (f"model={m}", f"budget={b}")
        for m, b in itertools.product(_options("model"), _options("budget"))
    ]
    combos += [(f"{g}={o}",) for g in ("engine", "suite", "pricing") for o in _options(g)]
    return combos


@pytest.mark.parametrize("overrides", _combinations(), ids=" ".join)
def test_every_combination_composes(make_cfg, overrides):
    cfg = make_cfg(*overrides)
    assert cfg.model.name and cfg.engine.kind in ENGINE_KINDS
    try:
        validate(cfg)
    except ConfigError as exc:
        # The legitimate refusals: a budget list that does not fit the model's
        # context, chat APIs (engine=openai_chat) apart from strategy=api, and
        # a search on a model without step delimiters or with budget 0 (no steps).
        searching = any(o in ("strategy=beam", "strategy=dvts") for o in overrides)
        assert (
            "max_model_len" in str(exc)
            or "strategy=api" in str(exc)
            or (searching and ("no step delimiter" in str(exc) or "budget 0" in str(exc)))
        ), str(exc)


def test_unknown_key_fails_with_its_name(make_cfg):
    with pytest.raises((ConfigCompositionException, ConfigAttributeError, ConfigKeyError)) as info:
        make_cfg("model.temprature=0.5")
    assert "temprature" in str(info.value) + str(info.value.__cause__)


def test_unknown_model_lists_choices(make_cfg):
    with pytest.raises(MissingConfigException) as info:
        make_cfg("model=nope")
    assert "smollm2-135m" in str(info.value)


def test_wrong_type_fails(make_cfg):
    with pytest.raises(ConfigCompositionException):
        make_cfg("strategy.n=many")


@pytest.mark.parametrize(
    "tokens, fragment",
    [
        ([], "empty"),
        ([-1, 16], ">= 0"),
        ([-4], ">= 0"),
        ([1.5], ">= 0"),
        ([True], ">= 0"),
        ([16, 16, 32], "repeats"),
        ([64, 16], "not increasing"),
    ],
)
def test_bad_budgets(tokens, fragment):
    with pytest.raises(ConfigError, match=fragment):
        validate_budgets(tokens)


def test_good_budgets_pass():
    assert validate_budgets([16, 32, 64]) == [16, 32, 64]
    assert validate_budgets([0, 8]) == [0, 8]  # 0: the no-thinking point
    assert validate_budgets([0]) == [0]


def test_budget_past_context_is_refused(make_cfg):
    cfg = make_cfg("budget=pow2")  # smollm2 has a 2048-token context
    with pytest.raises(ConfigError, match="max_model_len"):
        validate(cfg)


def test_bad_strategy_name_is_refused(make_cfg):
    cfg = make_cfg("strategy.name=tree")
    with pytest.raises(
        ConfigError, match="choose one of: api, beam, bon, dvts, native, sc, single, wait"
    ):
        validate(cfg)


def test_one_context_check_with_one_margin_at_its_boundary(make_cfg):
    """config_checks.validate (no prompt yet) and every prompt's check use the same
    rule: prompt + largest budget + answer + CONTEXT_MARGIN <= max_model_len."""
    from bench.config.checks import CONTEXT_MARGIN, check_context

    cfg = make_cfg("budget.tokens=[100]", "model.answer_max_tokens=20")
    fits = 100 + 20 + CONTEXT_MARGIN
    cfg.model.max_model_len = fits
    validate(cfg)  # an empty prompt fits exactly
    check_context(cfg, prompt_tokens=0)
    with pytest.raises(ConfigError, match="problem p1: prompt \\(1 tokens\\)"):
        check_context(cfg, prompt_tokens=1, problem="p1")
    cfg.model.max_model_len = fits + 5
    check_context(cfg, prompt_tokens=5, problem="p1")
    # A task's own answer length counts instead of the model's.
    with pytest.raises(ConfigError, match="exceed max_model_len"):
        check_context(cfg, prompt_tokens=5, answer_tokens=21, problem="p1")
    cfg.model.max_model_len = fits - 1
    with pytest.raises(ConfigError, match="does not fit the model's context"):
        validate(cfg)
    cfg.engine.max_model_len = fits  # the engine's override is the limit
    validate(cfg)
