"""Strategies are plugins: the registry finds them, the config checks, the
runner and the report ask them, and a new one is one module plus one YAML."""

from __future__ import annotations

import re
import sys
import textwrap

import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException

import bench.strategies as strategies_pkg
from bench.config.schema import CONFIG_DIR, ConfigError
from bench.strategies import registry
from bench.strategies.plugin import BUDGET_CONTROLS, StrategyPlugin
from bench.sweep.compose import compose, structured, validate
from bench.sweep.runner import Sweep

BUILT_IN = {"single", "sc", "bon", "wait", "native", "api", "beam", "dvts"}


def test_every_strategy_yaml_names_a_plugin_and_every_plugin_has_one():
    found = registry.plugins()
    assert set(found) == BUILT_IN
    yamls = {p.stem for p in (CONFIG_DIR / "strategy").glob("*.yaml")}
    assert yamls == set(found)
    for name, plugin in found.items():
        assert isinstance(plugin, StrategyPlugin) and plugin.name == name
        assert plugin.summary and plugin.budget_control in BUDGET_CONTROLS


def test_capabilities_are_declared_not_inferred_from_names():
    get = registry.get
    samplers = ["beam", "bon", "dvts", "sc"]
    assert [n for n, p in sorted(registry.plugins().items()) if p.samples] == samplers
    searchers = [n for n, p in sorted(registry.plugins().items()) if p.searches]
    assert searchers == ["beam", "dvts"] and all(get(n).whole_problems for n in searchers)
    assert not any(get(n).searches or get(n).whole_problems for n in BUILT_IN - {"beam", "dvts"})
    assert get("api").advisory and get("api").messages and not get("api").without_thinking
    assert get("native").native_budget and not get("native").advisory
    assert not get("wait").without_thinking
    assert get("single").budget_control == "cut" and get("single").without_thinking
    assert set(get("bon").tables) == {"maj", "bon", "wbon"}


@pytest.mark.parametrize("name", ["tree", "", "Single", "single ", "sc,bon"])
def test_an_unknown_strategy_is_one_line_naming_the_known_ones(make_cfg, name):
    cfg = make_cfg(f"strategy.name='{name}'")
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    message = str(info.value)
    assert (
        "\n" not in message
        and "choose one of: api, beam, bon, dvts, native, sc, single, wait" in message
    )


@pytest.mark.parametrize("strategy", ["sc", "bon"])
def test_tables_the_report_adds_are_the_ones_the_plugin_declares(make_cfg, strategy):
    cfg = make_cfg("engine=fake", "suite.limit=4", "budget.tokens=[16,64]", f"strategy={strategy}")
    cfg.strategy.n = 4
    run_dir = Sweep(cfg).run()
    methods = set(pd.read_csv(run_dir / "scaling.csv")["method"])
    assert methods == {"sample", "pass", *registry.get(strategy).tables}


# A new strategy: this module and the YAML below, nothing else. It is `single`
# with an answer cue of its own, in a config key of its own (its schema).
MODULE = textwrap.dedent(
    '''
    """cue -- single, with the answer cued by strategy.cue instead of the model's."""

    from dataclasses import dataclass

    from bench.config.schema import ConfigError, StrategyConfig
    from bench.strategies.chains import SingleChain
    from bench.strategies.plugin import StrategyPlugin


    @dataclass
    class CueConfig(StrategyConfig):
        cue: str = " The answer is "


    class Cue(StrategyPlugin):
        name = "cue"
        summary = "single, with an answer cue of its own"
        schema = CueConfig

        def settings(self, strategy_cfg):
            return {"forced_answer": strategy_cfg.cue}

        def check(self, cfg):
            if not cfg.strategy.cue.strip():
                raise ConfigError("strategy.cue is empty; give the text that cues the answer")

        def build(self, settings, model_cfg):
            return SingleChain(settings)


    PLUGIN = Cue()
    '''
)
YAML = "defaults:\n  - cue_schema\nname: cue\nn: 1\ncue: ' So the answer is '\n"


@pytest.fixture
def cue_strategy(tmp_path, monkeypatch):
    """The module in a folder on the package's path, the YAML in a config
    folder on Hydra's search path: as if both were added to the project."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "cue.py").write_text(MODULE)
    configs = tmp_path / "configs"
    (configs / "strategy").mkdir(parents=True)
    (configs / "strategy" / "cue.yaml").write_text(YAML)
    monkeypatch.setattr(strategies_pkg, "__path__", [*strategies_pkg.__path__, str(package)])
    registry.plugins(refresh=True)
    yield f"hydra.searchpath=[file://{configs}]"
    monkeypatch.undo()
    registry.plugins(refresh=True)


def test_a_new_strategy_is_one_module_and_one_yaml(cue_strategy, tmp_path):
    assert "cue" in registry.plugins()
    base = [
        cue_strategy,
        f"results_dir={tmp_path / 'results'}",
        "engine=fake",
        "engine.show_progress=false",
        "report=false",
        "plots=false",
        "suite.limit=4",
        "budget.tokens=[0,16]",
    ]
    cfg = compose([*base, "strategy=cue"])
    assert cfg.strategy.cue == " So the answer is "
    validate(cfg)
    run_dir = Sweep(cfg).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert set(records["strategy"]) == {"cue"} and len(records) == 4 * 2
    cut = records[records["finish"].isin(["cut", "no_thinking"])]
    assert not cut.empty and cut["answer_text"].str.startswith(" So the answer is ").all()
    assert records["correct"].notna().all()  # graded like any other run
    # Its own key is checked by its own check, and by its own schema.
    with pytest.raises(ConfigError, match="strategy.cue is empty"):
        validate(compose([*base, "strategy=cue", "strategy.cue=' '"]))
    with pytest.raises(ConfigCompositionException):
        compose([*base, "strategy=cue", "strategy.cues=x"])
    # Another strategy does not have the key.
    with pytest.raises(ConfigCompositionException):
        compose([*base, "strategy=single", "strategy.cue=x"])
    # A manifest of the run reloads on the plugin's schema (bench sweep --from-manifest).
    import json

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert structured(manifest["config"]).strategy.cue == " So the answer is "


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "class P(StrategyPlugin):\n    name = 'single'\n",
            "two strategy plugins are called 'single'",
        ),
        ("class P(StrategyPlugin):\n    name = ''\n", "must be a named StrategyPlugin"),
        ("class P:\n    name = 'x'\n", "must be a named StrategyPlugin"),
        (
            "class P(StrategyPlugin):\n    name = 'x'\n    budget_control = 'cap'\n",
            "budget_control='cap'",
        ),
        (
            "class P(StrategyPlugin):\n    name = 'x'\n    schema = dict\n",
            "schema must be StrategyConfig or a dataclass subclassing it",
        ),
    ],
)
def test_a_plugin_that_breaks_the_contract_is_named(tmp_path, monkeypatch, body, message):
    package = tmp_path / "broken"
    package.mkdir()
    (package / "broken_plugin.py").write_text(
        f"from bench.strategies.plugin import StrategyPlugin\n{body}PLUGIN = P()\n"
    )
    monkeypatch.setattr(strategies_pkg, "__path__", [*strategies_pkg.__path__, str(package)])
    try:
        with pytest.raises(TypeError, match=re.escape(message)):
            registry.plugins(refresh=True)
    finally:
        monkeypatch.undo()
        sys.modules.pop("bench.strategies.broken_plugin", None)
        registry.plugins(refresh=True)
