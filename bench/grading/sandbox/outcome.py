"""How a sandbox run ended, as a status (sandbox.py runs it).

A verdict on the program is one of VERDICTS: passed, failed, timeout, error
(it raised while loading, defined no such function, or the tests raised
something other than an assertion), crashed (killed: memory, a signal).
SANDBOX_ERROR is no verdict: a side of the sandbox never started (its
start-up byte never came), so nothing of the program was judged.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass

# Statuses that are a verdict on the program; "sandbox_error" is not one.
VERDICTS = ("passed", "failed", "timeout", "error", "crashed")
SANDBOX_ERROR = "sandbox_error"


class SandboxError(RuntimeError):
    """The sandbox itself does not work here: no code verdict can be trusted."""


@dataclass(frozen=True)
class TestResult:
    passed: bool
    status: str  # one of VERDICTS, or SANDBOX_ERROR
    seconds: float
    stdout: str = ""
    stderr: str = ""
    isolation: str = ""

    @property
    def detail(self) -> str:
        """A short, bounded account of why (the first lines of what went wrong)."""
        return short(self.stderr)


DETAIL_CHARS = 300


def short(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    # The end of a traceback says what was raised; a one-line failure is whole.
    chosen = lines[-1] if lines else ""
    return chosen[:DETAIL_CHARS]


@dataclass
class Ending:
    """What the harness saw of a finished run: which sides came up, their
    (stdout, stderr), the verdict channel's bytes, whether it ran out of
    time, and how the candidate's process ended."""

    came_up: list[bool]
    outputs: list[tuple[str, str]]
    raw_verdict: bytes
    timed_out: bool
    candidate_code: int | None


def outcome(ending: Ending, seconds: float, tool: str) -> TestResult:
    """The run's TestResult: a sandbox error when a side never started, else
    the status the verdict and the candidate's end make."""
    if not all(ending.came_up):
        side = 0 if not ending.came_up[0] else 1
        why = short(ending.outputs[side][1]) or "no start-up signal"
        name = ("candidate", "tests")[side]
        message = f"the {name} sandbox did not start ({tool}): {why}"
        return TestResult(False, SANDBOX_ERROR, seconds, "", message, tool)
    try:
        verdict = json.loads(ending.raw_verdict.decode(errors="replace") or "{}")
    except ValueError:
        verdict = {}
    if not isinstance(verdict, dict):
        verdict = {}
    status = status_of(verdict, ending.timed_out, ending.candidate_code)
    detail = str(verdict.get("detail") or "")
    outputs = ending.outputs
    stderr = "\n".join(part for part in (outputs[0][1], outputs[1][1], detail) if part)
    return TestResult(status == "passed", status, seconds, outputs[0][0], stderr, tool)


def status_of(verdict: dict, timed_out: bool, candidate_code: int | None) -> str:
    if timed_out:
        return "timeout"
    status = verdict.get("status")
    if status in ("passed", "failed", "error"):
        return status
    if status == "gone":  # the candidate stopped answering: how did it end?
        if candidate_code is not None and candidate_code - 128 == signal.SIGXCPU:
            return "timeout"
        if candidate_code is not None and (candidate_code < 0 or candidate_code > 128):
            return "crashed"
        return "failed"  # it exited before the tests finished
    return "crashed"  # no verdict: the tests' process itself was killed (memory, limits)
