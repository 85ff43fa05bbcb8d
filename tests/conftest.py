from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bench.configure import register

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def bench(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `bench` command in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def make_cfg(tmp_path):
    """Compose the real Hydra config with overrides, writing results under tmp_path.
    Sweeps skip the report page and the curve unless a test asks (report=true,
    plots=true): drawing costs most of a fake sweep's second and has tests of its own."""

    def _make(*overrides: str):
        register()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            return compose(
                config_name="config",
                overrides=[
                    f"results_dir={tmp_path / 'results'}",
                    "engine.show_progress=false",
                    "report=false",
                    "plots=false",
                    *overrides,
                ],
            )

    return _make
