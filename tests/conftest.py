from __future__ import annotations

import pytest

from bench.configure import compose


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
