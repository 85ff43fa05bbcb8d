"""A sweep's config in one place: Hydra's schemas (the strategy plugins'
own too), composing from configs/, and validation in one pass.

config.py declares the schemas and checks what they cannot express; the
strategy named in the config checks the rest (strategies/registry.py).
Everything that composes or checks a sweep's config comes through here.
"""

from __future__ import annotations

from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bench.config import checks as config_checks
from bench.config import schema as config
from bench.config.engines import ENGINES, foreign_keys
from bench.config.schema import CONFIG_DIR, Config, StrategyConfig
from bench.strategies import registry


def register() -> None:
    """The schemas and resolvers (idempotent), with strategy/NAME_schema for
    every plugin that declares keys of its own."""
    config.register()
    store = ConfigStore.instance()
    for plugin in registry.plugins().values():
        if plugin.schema is not StrategyConfig:
            store.store(group="strategy", name=f"{plugin.name}_schema", node=plugin.schema)


def compose(overrides: list[str]) -> DictConfig:
    """The config `bench sweep OVERRIDES...` runs (not yet validated)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return hydra_compose(config_name="config", overrides=list(overrides))


def structured(values: dict[str, Any]) -> DictConfig:
    """A stored config (a manifest's) on the typed schema, its strategy's and
    its engine kind's own schemas included; unknown keys and wrong types fail
    as in a sweep. Runs stored while one config held every engine's keys
    carry other kinds' keys too: they never did anything for this kind, and
    are left out."""
    cfg = OmegaConf.structured(Config)
    engine = values.get("engine")
    if (
        isinstance(engine, dict)
        and isinstance(engine.get("kind"), str)
        and engine["kind"] in ENGINES
    ):
        cfg.engine = OmegaConf.structured(ENGINES[engine["kind"]].schema)
        foreign = foreign_keys(engine["kind"])
        values = {**values, "engine": {k: v for k, v in engine.items() if k not in foreign}}
    name = (values.get("strategy") or {}).get("name")
    plugin = registry.find(name)
    if plugin is not None and plugin.schema is not StrategyConfig:
        cfg.strategy = OmegaConf.structured(plugin.schema)
    return OmegaConf.merge(cfg, values)


def validate(cfg: Config) -> None:
    """Every check, once: the config's own, then the named strategy's."""
    config_checks.validate(cfg)
    registry.check_config(cfg)
