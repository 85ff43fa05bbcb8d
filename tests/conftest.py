from __future__ import annotations

import subprocess
import sys

import pytest

from bench.config import CONFIG_DIR  # noqa: F401  (tests import it from here)
from bench.configure import compose


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
        return compose(
            [
                f"results_dir={tmp_path / 'results'}",
                "engine.show_progress=false",
                "report=false",
                "plots=false",
                *overrides,
            ]
        )

    return _make
