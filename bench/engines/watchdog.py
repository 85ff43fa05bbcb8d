"""A watchdog that follows a sweep: when the sweep's process dies, however it
dies (SIGKILL included), the processes it started die too.

vLLM starts its EngineCore and worker processes itself; a SIGKILLed parent
leaves them running, gigabytes each. The watchdog is a small process in a
session of its own: while the parent lives it notes the parent's descendants
(pid and start time, so a reused pid is never mistaken for one), and when
the parent is gone it sends them SIGTERM, then SIGKILL to those still there
after GRACE_S. Started once per sweep with a real engine; it exits with the
parent.

Usage: python -m bench.engines.watchdog PARENT_PID
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from bench import procs

POLL_S = 0.5
GRACE_S = 5.0


def watch(parent: int) -> None:
    me = os.getpid()
    known: dict[int, int] = {}  # pid -> start time
    first = procs.read(parent)
    parent_start = first.start if first else -1
    while procs.alive(parent, parent_start):
        known.update({p.pid: p.start for p in procs.descendants([parent], procs.snapshot())})
        known.pop(me, None)
        known = {pid: start for pid, start in known.items() if procs.alive(pid, start)}
        time.sleep(POLL_S)
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        left = {pid: s for pid, s in known.items() if procs.alive(pid, s)}
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while (
            wait
            and time.monotonic() < deadline
            and any(procs.alive(*item) for item in left.items())
        ):
            time.sleep(0.1)


_running: dict[int, subprocess.Popen] = {}


def start(parent: int) -> subprocess.Popen | None:
    """Start a watchdog for `parent`, once per parent while it runs (a process
    running several sweeps needs one); never fails the sweep if it cannot."""
    current = _running.get(parent)
    if current is not None and current.poll() is None:
        return current
    try:
        _running[parent] = subprocess.Popen(
            [sys.executable, "-m", "bench.engines.watchdog", str(parent)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in the sweep's process group: Ctrl-C spares it
            close_fds=True,
        )
    except OSError:
        return None
    return _running[parent]


if __name__ == "__main__":
    watch(int(sys.argv[1]))
