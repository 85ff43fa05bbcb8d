"""What many test files share: the `bench` command run as a user runs it,
and one definition of "this machine can sandbox code" (as the grader sees it,
bench/grading/sandbox.isolation), so no file probes it its own way."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.config.schema import CONFIG_DIR
from bench.grading.sandbox.execute import isolation

__all__ = ["CONFIG_DIR", "accept_into", "bench", "needs_bwrap", "needs_sandbox"]


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
