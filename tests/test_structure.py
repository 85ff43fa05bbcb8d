"""The design stays visible: a layer order no import breaks, no import cycle,
no function in bench/ longer than 80 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bench"

# Lowest first. A module may import its own layer and those below, never above.
# A package name covers its modules (bench.engines: bench.engines.vllm, ...).
LAYERS = [
    # foundations: no config, no engine
    "bench bench.types bench.errors bench.store bench.records bench.same_run bench.procs "
    "bench.runlock "
    "bench.manifest bench.engine_log bench.models bench.arith bench.chain bench.chain_steps "
    "bench.reasoner bench.reward_models "
    "bench.watchdog",
    "bench.config bench.config_checks",  # schemas, and the checks they cannot express
    # what a sweep is made of, each on its own
    "bench.tasks bench.engines bench.grading bench.analysis bench.run_dir bench.merge",
    "bench.strategies",  # plugins over the engines
    "bench.configure bench.prompts",  # compose + check; problems to prompts
    "bench.report",
    "bench.view",  # reads run folders, shapes and serves the pages
    "bench.verification bench.runner bench.sweep_end",
    "bench.perf bench.perf_checks bench.perf_grading bench.perf_verifier bench.perf_search "
    "bench.perf_view "
    "bench.cli_errors bench.cli_runs bench.cli_sweep bench.cli",
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer(module: str) -> int:
    best, depth = None, -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer.split():
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} has no layer in tests/test_structure.py LAYERS")
    return best


def _imports() -> dict[str, set[str]]:
    modules = _modules()
    deps: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            deps[name].update(t for t in targets if t in modules and t != name)
    return deps


def test_every_module_has_a_layer_and_imports_none_above_it():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in sorted(_imports().items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    for module in _modules():
        _layer(module)
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    deps = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(deps[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(_modules()):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check itself: config importing the runner is caught."""
    fake = tmp_path / "bench"
    for path in ROOT.rglob("*.py"):
        target = fake / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    config = fake / "config.py"
    config.write_text(config.read_text() + "\nfrom bench.runner import Sweep\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    with pytest.raises(AssertionError, match="bench.config .*imports bench.runner"):
        test_every_module_has_a_layer_and_imports_none_above_it()
    with pytest.raises(AssertionError, match="bench.config"):
        test_no_import_cycle()


MAX_FUNCTION_LINES = 80


def test_no_function_longer_than_80_lines():
    long = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT.parent)}: {node.name} ({lines} lines)")
    assert not long, "split these:\n" + "\n".join(long)
