"""Find the strategy plugins, and check a config against the one it names.

Every module of this package that sets `PLUGIN` (a plugin.StrategyPlugin) is
found by scanning the package, so a new strategy is one module here plus one
YAML file under configs/strategy/: nothing else names it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

from bench.config.engines import uses_chat_api
from bench.config.schema import Config, ConfigError, StrategyConfig
from bench.strategies.plugin import BUDGET_CONTROLS, StrategyPlugin

_found: dict[str, StrategyPlugin] | None = None


def plugins(refresh: bool = False) -> dict[str, StrategyPlugin]:
    """Every strategy plugin by name (the package is scanned once; `refresh`
    scans again, e.g. after a module was added to the package's path)."""
    global _found
    if _found is not None and not refresh:
        return _found
    package = sys.modules[__package__]  # bench.strategies: its __path__ may be extended

    found: dict[str, StrategyPlugin] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        plugin = getattr(module, "PLUGIN", None)
        if plugin is None:
            continue
        if not isinstance(plugin, StrategyPlugin) or not plugin.name:
            raise TypeError(f"{module.__name__}.PLUGIN must be a named StrategyPlugin")
        if plugin.name in found:
            raise TypeError(f"two strategy plugins are called {plugin.name!r}")
        if not (isinstance(plugin.schema, type) and issubclass(plugin.schema, StrategyConfig)):
            raise TypeError(
                f"strategy {plugin.name!r}: schema must be StrategyConfig or a dataclass "
                "subclassing it (the keys every strategy has come with it)"
            )
        if plugin.budget_control not in BUDGET_CONTROLS:
            raise TypeError(
                f"strategy {plugin.name!r}: budget_control={plugin.budget_control!r}; "
                f"one of {', '.join(BUDGET_CONTROLS)}"
            )
        found[plugin.name] = plugin
    _found = found
    return found


def get(name: Any) -> StrategyPlugin:
    """The plugin called `name`; a one-line ConfigError naming the known ones otherwise."""
    found = plugins()
    if name not in found:
        raise ConfigError(
            f"strategy.name={name!r} is not known; choose one of: {', '.join(sorted(found))}"
        )
    return found[name]


def find(name: Any) -> StrategyPlugin | None:
    """The plugin called `name`, or None (a stored run of a strategy not installed here)."""
    return plugins().get(name)


def check_config(cfg: Config) -> None:
    """What the named strategy needs from the rest of the config (one line each)."""
    plugin = get(cfg.strategy.name)
    strategy, budgets = cfg.strategy, list(cfg.budget.tokens)
    if strategy.n < 1:
        raise ConfigError(f"strategy.n={strategy.n}; it must be at least 1")
    if strategy.subset_draws < 1:
        raise ConfigError(f"strategy.subset_draws={strategy.subset_draws}; it must be positive")
    chat = uses_chat_api(cfg.engine)
    if plugin.messages and not chat:
        raise ConfigError(
            f"strategy={plugin.name} sends chat messages to a reasoning API; use "
            "engine=openai_chat (engine.kind=openai, engine.api=chat)"
        )
    if chat and not plugin.messages:
        raise ConfigError(
            f"engine.api=chat returns text, not token ids, so strategy={plugin.name} "
            f"cannot cut it; use {_names('messages', ' or ', 'strategy=')} (chat messages) "
            "or engine.api=completions"
        )
    if 0 in budgets and plugin.advisory:
        raise ConfigError(
            f"budget 0 (no thinking) needs a strategy that cuts thinking itself; "
            f"strategy={plugin.name} leaves it to the server: drop 0 from budget.tokens"
        )
    if not cfg.model.thinking and not plugin.without_thinking:
        raise ConfigError(
            f"model.thinking=false runs with strategy {_names('without_thinking', ' or ')}, "
            f"not {plugin.name}"
        )
    plugin.check(cfg)


def _names(capability: str, sep: str = ", ", prefix: str = "") -> str:
    """The strategies that have `capability`, for a message."""
    return sep.join(sorted(prefix + n for n, p in plugins().items() if getattr(p, capability)))
