"""The grading stage's process: `python -m bench.grading.runtime.stage_process FD`.

Receives (run_dir, graders, workers, timeout_s), then ("grade", part, count)
messages; grades each part with its own GradingPool and stores the verdicts;
answers ("graded", count, seconds), ("error", text) or ("sandbox_error",
text) (the code sandbox does not work: no verdict was stored). Exits on ("stop",),
on SIGTERM (closing its pool), or when the sweep's end of the pipe closes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

STAGE_NICENESS = 10


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _error(exc: Exception) -> tuple[str, str]:
    """The report of a failure: a broken sandbox is named as such (the sweep
    raises SandboxError for it), anything else as its type and message."""
    from bench.grading.sandbox.outcome import SandboxError

    if isinstance(exc, SandboxError):
        return ("sandbox_error", str(exc))
    return ("error", f"{type(exc).__name__}: {exc}")


def main(fd: int) -> None:
    from bench.grading.runtime.pool import GradingPool
    from bench.run.store import RunStore, read_part

    # Below the engine loop in the CPU's queue (the sandbox inherits it): where
    # cores are short, the loop that feeds the accelerator goes first.
    with contextlib.suppress(OSError):
        os.nice(STAGE_NICENESS)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep decides when to stop
    conn = Connection(fd)
    run_dir, graders, workers, timeout_s = conn.recv()
    store = RunStore(Path(run_dir), create=False)
    pool = GradingPool(workers, timeout_s, quiet=True)
    try:
        # While the engine starts its first chains.
        try:
            pool.warm_up(set(graders.values()))
        except Exception as exc:
            conn.send(_error(exc))
            return
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message[0] != "grade":
                return
            # Parts that queued up while the last ones were graded go together:
            # one bigger batch keeps every core busy (the sandbox runs a batch
            # in parallel), so a stage that fell behind catches up faster.
            parts = [message]
            while conn.poll(0):
                message = conn.recv()
                if message[0] != "grade":
                    break
                parts.append(message)
            started = time.perf_counter()
            try:
                rows = [r for _, part, _ in parts for r in read_part(Path(part)).to_dict("records")]
                store.append_grades(pool.grade(rows, graders))
            except Exception as exc:
                conn.send(_error(exc))
                return
            try:
                conn.send(("graded", sum(c for *_, c in parts), time.perf_counter() - started))
            except OSError:
                return
            if message[0] != "grade":
                return
    finally:
        pool.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
