"""Run calls in worker processes, each call under a hard deadline.

A symbolic comparison can hang in C code that no signal interrupts
(sympy evaluating 9^(9^(9^9))); the only sure limit is to kill the process.
So every call goes to a worker process, one call at a time per worker, and a
worker whose call passes its deadline is killed and replaced; the caller gets
the default verdict and nothing else is lost.

Workers are started with `python -m bench.grading.runtime.serve FD`, not with
multiprocessing's spawn: spawn re-imports the caller's main module, which
breaks users calling `equivalent()` from an unguarded script, and fork would
copy an inference engine's threads in a broken state.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any

READY = "ready"  # what serve.py sends once started (not imported: see serve.py)
# How long a new worker may take to import its modules before it counts as broken.
START_TIMEOUT_S = 120.0


class _Worker:
    def __init__(self, preload: tuple[str, ...]) -> None:
        parent, child = Pipe()
        self.conn: Connection = parent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.grading.runtime.serve", str(child.fileno()), *preload],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a kill takes everything it started
        )
        child.close()
        self.started = time.monotonic()
        self.ready = False
        self.job: tuple[int, float] | None = None  # (item index, deadline)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.conn.close()


class HardTimeoutPool:
    """Worker processes that each run one call at a time under a deadline.

    `preload` names modules the workers import at start, so the first call's
    deadline is not spent importing sympy.
    """

    def __init__(self, workers: int | None = None, preload: Iterable[str] = ()) -> None:
        self.size = max(1, workers or os.cpu_count() or 1)
        self.preload = tuple(preload)
        self._workers: list[_Worker] = []
        self.killed = 0  # calls that passed their deadline

    def _ensure_started(self) -> None:
        while len(self._workers) < self.size:
            self._workers.append(_Worker(self.preload))

    def start(self) -> None:
        """Start every worker and wait until all are ready (for benchmarks:
        so that timing excludes start-up)."""
        self._ensure_started()
        for worker in self._workers:
            if not worker.ready:
                if not worker.conn.poll(START_TIMEOUT_S) or worker.conn.recv() != READY:
                    raise RuntimeError("a grading worker did not start")
                worker.ready = True

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers[self._workers.index(worker)] = _Worker(self.preload)

    def map(
        self,
        fn: Callable[[Any], Any],
        items: list[Any],
        timeout_s: float,
        default: Any,
        progress: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """fn(item) for every item, in order; `default` where a call passed
        timeout_s, raised, or killed its worker. `fn` must be a module-level
        function. The deadline counts from when the item reaches a ready worker."""
        target = f"{fn.__module__}:{fn.__qualname__}"
        results: list[Any] = [default] * len(items)
        pending = deque(range(len(items)))
        self._ensure_started()
        while pending or any(w.job for w in self._workers):
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.ready and worker.job is None and pending:
                    index = pending.popleft()
                    try:
                        worker.conn.send((target, items[index]))
                        worker.job = (index, now + timeout_s)
                    except OSError:  # died while idle: retry the item on a fresh one
                        pending.appendleft(index)
                        self._replace(worker)
            deadlines = [w.job[1] for w in self._workers if w.job]
            deadlines += [w.started + START_TIMEOUT_S for w in self._workers if not w.ready]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for conn in wait([w.conn for w in self._workers], timeout=wait_s):
                worker = next(w for w in self._workers if w.conn is conn)
                try:
                    message = conn.recv()
                except (EOFError, OSError):  # crashed (out of memory, a bug): its item fails
                    if not worker.ready:
                        worker.kill()
                        raise RuntimeError(
                            "a grading worker exited while starting (modules "
                            f"{', '.join(self.preload) or 'none'}); run `python -m "
                            "bench.grading.runtime.serve` to see why"
                        ) from None
                    self._finish(worker, default, results, progress)
                    self._replace(worker)
                    continue
                if message == READY:
                    worker.ready = True
                else:
                    ok, value = message
                    self._finish(worker, value if ok else default, results, progress)
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.job and now >= worker.job[1]:
                    self.killed += 1
                    self._finish(worker, default, results, progress)
                    self._replace(worker)
                elif not worker.ready and now >= worker.started + START_TIMEOUT_S:
                    worker.kill()
                    raise RuntimeError(
                        f"a grading worker did not start within {START_TIMEOUT_S:.0f} s "
                        f"(modules {', '.join(self.preload) or 'none'})"
                    )
        return results

    @staticmethod
    def _finish(
        worker: _Worker,
        value: Any,
        results: list[Any],
        progress: Callable[[int], None] | None,
    ) -> None:
        if worker.job is None:
            return
        results[worker.job[0]] = value
        worker.job = None
        if progress:
            progress(1)

    def close(self) -> None:
        for worker in self._workers:
            worker.kill()
        self._workers = []


_shared: dict[tuple[str, ...], HardTimeoutPool] = {}


def shared_pool(preload: tuple[str, ...]) -> HardTimeoutPool:
    """One pool per module set for single calls (`equivalent()`), closed at exit."""
    pool = _shared.get(preload)
    if pool is None:
        pool = _shared[preload] = HardTimeoutPool(preload=preload)
        atexit.register(pool.close)
    return pool
