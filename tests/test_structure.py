"""The design stays visible: a layer order no import breaks, no import cycle,
no function in bench/ longer than 80 lines."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bench"

# Lowest first, one entry per folder of bench/. A module may import its own
# layer and those below, never above. A package covers its modules
# (bench.engines: bench.engines.vllm, ...). docs/architecture.md's Layout names
# every folder here, in this order (test_documented_layout_follows_the_layers).
LAYERS = [
    "bench bench.types bench.errors bench.paths bench.procs",  # shared leaves
    "bench.config",  # schemas, the checks they cannot express, a run's identity
    # what a sweep is made of, each on its own
    "bench.run bench.tasks bench.engines bench.grading bench.analysis bench.training",
    "bench.strategies",  # plugins over the engines
    "bench.report",  # tables, plots, the page
    "bench.sweep",  # compose + check, prompts, the runner, the end of a sweep
    "bench.view",  # reads run folders, shapes and serves the pages
    "bench.perf bench.cli",  # entry points
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
                # `from bench.engines import models` imports the module
                # bench.engines.models; a name that is no module is the package's.
                targets = [
                    f"{node.module}.{a.name}"
                    if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                ]
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
    config = fake / "config" / "schema.py"
    config.write_text(config.read_text() + "\nfrom bench.sweep.runner import Sweep\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    with pytest.raises(AssertionError, match="bench.config.schema .*imports bench.sweep.runner"):
        test_every_module_has_a_layer_and_imports_none_above_it()
    with pytest.raises(AssertionError, match="bench.config.schema"):
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


# The leaves every layer shares; anything else at bench/'s root belongs in the
# folder of its layer.
ROOT_MODULES = {"__init__", "types", "errors", "paths", "procs"}


def _folders() -> list[str]:
    return sorted(
        "bench." + path.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for path in ROOT.glob("*/__init__.py")
    )


def test_bench_root_holds_only_the_shared_leaves():
    extra = sorted(p.stem for p in ROOT.glob("*.py") if p.stem not in ROOT_MODULES)
    assert not extra, f"move these into the folder of their layer: {extra}"
    leaves = {f"bench.{name}" for name in ROOT_MODULES - {"__init__"}}
    assert set(LAYERS[0].split()) == {"bench", *leaves}


def test_the_layers_name_folders_and_every_folder_has_one():
    named = [name for layer in LAYERS[1:] for name in layer.split()]
    assert sorted(named) == _folders()


def test_documented_layout_follows_the_layers():
    """docs/architecture.md's Layout names each layer's folders, in the layers' order."""
    readme = (ROOT.parent / "docs" / "architecture.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("```", layout.index("```") + 3)]
    positions = []
    for index, layer in enumerate(LAYERS[1:], start=1):
        for name in layer.split():
            folder = name.removeprefix("bench.") + "/"
            assert f" {folder}" in layout, f"docs/architecture.md's Layout does not name {folder}"
            positions.append((layout.index(f" {folder}"), index, folder))
            assert f"\n           {index}  " in layout, (
                f"docs/architecture.md's Layout lacks layer {index}"
            )
    order = [folder for _, _, folder in sorted(positions)]
    assert order == [folder for _, _, folder in sorted(positions, key=lambda p: p[1])]


def test_engine_kinds_are_asked_by_trait_never_compared_by_name():
    """One set of engine kinds (traits in config/engines.py, builders in
    engines/__init__.py), and no `engine.kind == "..."` anywhere else."""
    from bench.config.engines import ENGINES
    from bench.config.schema import ENGINE_KINDS
    from bench.engines import BUILDERS

    assert set(BUILDERS) == set(ENGINES) == set(ENGINE_KINDS)
    pattern = re.compile(
        r"""engine(?:_cfg)?\.kind\s*(?:==|!=|\bin\b|\bnot in\b)|kind\s*[!=]=\s*["'](?:vllm|openai|fake)["']"""
    )
    found = [
        f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "ask the engine's traits instead:\n" + "\n".join(found)


def test_graded_records_are_filtered_in_one_place():
    """Which records have a verdict is decided once (analysis/metrics.py:
    with_verdict, graded_records), never by a `correct` filter of a table's own."""
    pattern = re.compile(
        r"""\[\s*["']correct["']\s*\]\s*\.\s*notna\(\)\s*\]|dropna\([^)]*["']correct["']"""
    )
    home = ROOT / "analysis" / "metrics.py"
    found = [
        f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if path != home
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "use analysis.metrics.with_verdict or graded_records:\n" + "\n".join(found)


def test_with_verdict_keeps_graded_rows_as_they_are():
    import pandas as pd

    from bench.analysis.metrics import graded_records, with_verdict

    records = pd.DataFrame(
        {
            "correct": pd.array([True, None, False, None], dtype="boolean"),
            "difficulty": ["1", None, "2", "3"],
            "problem_id": ["a", "b", "c", "d"],
        }
    )
    kept = with_verdict(records)
    assert kept["problem_id"].tolist() == ["a", "c"]
    assert kept["correct"].dtype == "boolean" and kept["difficulty"].tolist() == ["1", "2"]
    graded = graded_records(records)
    assert graded["correct"].tolist() == [1.0, 0.0] and graded["repeat"].tolist() == [0, 0]
    # an ungraded run's records carry no verdict column at all: no rows, not a KeyError
    assert with_verdict(records.drop(columns="correct")).empty


def test_every_file_that_starts_an_engine_is_scheduled_first():
    """make test's workers take the slowest files first (tests/scheduling.py):
    a new file of engine tests must be named there, or it may start last."""
    from scheduling import SLOW_FILES, work_unit, worker_cores

    files = {path.name: path for path in Path(__file__).parent.rglob("test_*.py")}
    marked = {
        name
        for name, path in files.items()
        if re.search(r"pytest\.mark\.engine\b", path.read_text(encoding="utf-8"))
    }
    assert marked and marked <= set(SLOW_FILES), marked - set(SLOW_FILES)
    assert set(SLOW_FILES) <= set(files), set(SLOW_FILES) - set(files)
    assert len(set(SLOW_FILES)) == len(SLOW_FILES)
    assert work_unit("tests/analysis/test_tiers.py::test_x[2]") == "tests/analysis/test_tiers.py"
    assert work_unit("tests/cli/test_cli.py::Case::test_x[a::b]") == "tests/cli/test_cli.py"
    # Each worker's own cores: disjoint shares that cover them all, or none.
    assert worker_cores("gw0", 2, {0, 1}) == {0} and worker_cores("gw1", 2, {0, 1}) == {1}
    shares = [worker_cores(f"gw{i}", 3, set(range(8))) for i in range(3)]
    assert set().union(*shares) == set(range(8)) and sum(map(len, shares)) == 8
    assert worker_cores("gw0", 2, {5}) is None and worker_cores("gw0", 1, {0, 1}) is None


# Tests of the whole project, not of one package: they sit in tests/ itself.
WHOLE_PROJECT_TESTS = {"test_structure.py", "test_readme.py"}


def test_test_folders_mirror_the_package():
    """tests/<package>/test_*.py tests bench/<package>/; a file's name is
    unique across folders (pytest imports them by name, without packages)."""
    tests = Path(__file__).parent
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    found = sorted(tests.rglob("test_*.py"))
    names = [path.name for path in found]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    misplaced = [
        str(path.relative_to(tests))
        for path in found
        if not (
            (path.parent == tests and path.name in WHOLE_PROJECT_TESTS)
            or (path.parent.parent == tests and path.parent.name in packages)
        )
    ]
    assert not misplaced, f"put these in tests/<package>/ after bench/<package>/: {misplaced}"
    assert not list(tests.rglob("__init__.py"))  # plain folders: helpers import by name


# Where an analysis writes a stored column's name as a value, not a column:
# the method "sample" (each sample on its own) and the routing signal "verifier".
COLUMN_NAMES_AS_VALUES = {
    ("metrics.py", "sample"),
    ("published.py", "sample"),
    ("routing.py", "verifier"),
}


def test_analyses_name_stored_columns_by_their_constants():
    """bench/analysis reads records through bench.run.columns' names (BUDGET,
    CORRECT, ...): a misspelt one is an undefined name, not a KeyError later."""
    import io
    import tokenize

    from bench.run.columns import GENERATION, GRADE, VERIFICATION

    stored = set(GENERATION) | set(GRADE) | set(VERIFICATION)
    found = []
    for path in sorted((ROOT / "analysis").glob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type != tokenize.STRING or token.string[0] not in "\"'":
                continue
            value = ast.literal_eval(token.string)
            if value in stored and (path.name, value) not in COLUMN_NAMES_AS_VALUES:
                found.append(f"{path.name}:{token.start[0]}: {token.string}")
    assert not found, found
