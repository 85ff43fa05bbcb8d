"""Whole programs run once per test, input on stdin, output from stdout
(LiveCodeBench's stdin tests), in the sandbox of execute.py.

Each test is its own sandboxed process with one test's input on its stdin;
the program never sees another test's input or any expected output (the
caller compares stdout on the trusted side, after the run). A run is stopped
at its CPU limit (summed over every process it started) or at WALL_FACTOR
times that in wall-clock time; its stdout is kept up to a cap, past which it
counts as overflowing. The tests of one program share a slot of uids and an
input folder; after each test every process of its uid is killed, so nothing
one test started lives on into the next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from bench.grading.sandbox.accounting import (
    acquire_slot,
    clear,
    processes_of,
    release_slot,
)
from bench.grading.sandbox.execute import (
    MAX_PROCESSES,
    _as_root,
    _command,
    _inputs,
    _limits,
    _Process,
    _read_closing,
    _seccomp_fd,
    isolation,
    scratch_folder,
    wait_within,
)
from bench.grading.sandbox.view import write_minimal_etc

STDIO_FILES = ("stdio.py",)


@dataclass(frozen=True)
class ProgramRun:
    """How one test's run ended, as the harness saw it."""

    started: bool  # the sandbox came up (its start-up byte arrived)
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool  # past its CPU or wall-clock limit (then killed)
    overflowed: bool  # more stdout than the cap
    seconds: float
    isolation: str


@contextlib.contextmanager
def program_runner(program: str) -> Iterator:
    """A function (stdin text, CPU seconds, stdout cap) -> ProgramRun for one
    program, its sandbox's uid slot and input folder held until the block ends."""
    tool = isolation()
    slot = acquire_slot() if _as_root() else None
    scratch = scratch_folder()
    uid = slot.uids[0] if slot else None
    try:
        if slot:
            os.chmod(scratch, 0o711)  # the uid may pass through to its own folder only
        inputs = _inputs(scratch / "program", {"program.py": program}, STDIO_FILES, uid)
        etc = write_minimal_etc(scratch / "etc") if tool == "bwrap" else ""
        yield partial(_run_one, tool, uid, inputs, etc)
    finally:
        if slot is not None:
            release_slot(slot)
        shutil.rmtree(scratch, ignore_errors=True)


def _run_one(
    tool: str, uid: int | None, inputs: str, etc: str, stdin: str, cpu_s: float, stdout_cap: int
) -> ProgramRun:
    started_at = time.monotonic()
    started_r, started_w = os.pipe()
    seccomp = _seccomp_fd(tool)
    processes = MAX_PROCESSES if uid is not None else len(processes_of([os.getuid()])) + 64
    process = None
    timed_out = False
    try:
        try:
            argv, cwd = _command(tool, STDIO_FILES[0], inputs, etc, [str(started_w)], seccomp)
            fds = (started_w,) + ((seccomp,) if seccomp is not None else ())
            preexec = partial(_limits, cpu_s, uid, processes)
            data = stdin.encode("utf-8", errors="surrogateescape")
            process = _Process(argv, cwd, fds, preexec, stdin=data, stdout_cap=stdout_cap)
        finally:
            os.close(started_w)
            if seccomp is not None:
                os.close(seccomp)
        timed_out = wait_within(process, [process.proc.pid], cpu_s, lambda: process.overflowed)
    finally:
        if process is not None:
            process.kill()
            stdout, stderr = process.finish()
        else:
            stdout, stderr = "", ""
        if uid is not None:
            clear([uid])  # nothing this test started reaches the next one
        came_up = _read_closing(started_r) == b"S"
    return ProgramRun(
        came_up,
        process.proc.returncode if process else None,
        stdout,
        stderr,
        timed_out,
        bool(process and process.overflowed),
        time.monotonic() - started_at,
        tool,
    )
