"""What many test files share: where the project and the test data are,
the `bench` command run as a user runs it, and one definition of "this machine can sandbox code" (as the grader sees it,
bench/grading/sandbox.isolation), so no file probes it its own way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.config.schema import CONFIG_DIR
from bench.grading.sandbox.execute import isolation

__all__ = [
    "CONFIG_DIR", "DATA", "ROOT", "accept_into", "bench", "needs_bwrap", "needs_sandbox", "prm_forward_pass",
]  # fmt: skip


# The project's folder, and the test data (tests/data/), wherever a test file sits.
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def bench(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `bench` command in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


# A namespace sandbox (bubblewrap, or unshare where it is missing).
needs_sandbox = pytest.mark.skipif(
    isolation() == "rlimits", reason="no namespace tool here (make setup installs bubblewrap)"
)
# Bubblewrap itself: the trust boundary's file binds need it.
needs_bwrap = pytest.mark.skipif(
    isolation() != "bwrap", reason="needs bubblewrap (make setup installs it)"
)


def accept_into(server, accepted: list) -> None:
    """A thread's body: accept one connection on `server` into `accepted` (a
    socket test's listener; nothing, when the server is closed first)."""
    import contextlib

    with contextlib.suppress(OSError):
        accepted.append(server.accept())


def prm_forward_pass(model, tokenizer, texts: list[str]) -> list[list[float]]:
    """The transformers forward pass a test checks vLLM's PRM scores against
    (bench.training.reward_models.step_scores), on one torch thread: text by
    text through a model this small, a second thread bought little alone (300
    texts: 2.5 to 3.3 s against 3.2 s) and cost several times over while the
    other test worker held the cores (7 to 21 s against 3 to 5 s)."""
    import torch

    from bench.training.reward_models import step_scores

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return step_scores(model, tokenizer, texts)
    finally:
        torch.set_num_threads(threads)
