from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from scheduling import pin_this_worker

# Before anything loads OpenMP, which sizes its thread pool by the cores it may use.
pin_this_worker()

from bench.sweep.compose import compose  # noqa: E402

# Everything a test session writes to the temporary folder goes into one
# folder of its own, removed when the session ends: pytest's tmp_path
# folders (--basetemp), and through TMPDIR what vLLM leaves there (ZMQ
# sockets, vllm_dist_* files) and the sandbox's uid registry, in this
# process and every process it starts. Tests leave nothing in /tmp.
# A short name: unix socket paths under it (Ray's, vLLM's) must stay under 108 bytes.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="tb-"))
# As /tmp itself: the sandbox runs code as other users, who must reach its scratch folders.
_SESSION_TMP.chmod(0o1777)
os.environ["TMPDIR"] = str(_SESSION_TMP)
tempfile.tempdir = str(_SESSION_TMP)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.option.basetemp:
        config.option.basetemp = str(_SESSION_TMP / "pytest")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


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


# `make test` runs on two workers (pytest-xdist): tests/scheduling.py says how
# the tests are shared between them.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from scheduling import make_scheduler

    return make_scheduler(config, log)
