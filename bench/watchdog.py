"""A watchdog that follows a sweep: when the sweep's process dies, however it
dies (SIGKILL included), the processes it started die too.

vLLM starts its EngineCore and worker processes itself; a SIGKILLed parent
leaves them running, gigabytes each. The watchdog is a small process in a
session of its own: while the parent lives it notes the parent's descendants
(pid and start time, so a reused pid is never mistaken for one), and when
the parent is gone it sends them SIGTERM, then SIGKILL to those still there
after GRACE_S. Started once per sweep with a real engine; it exits with the
parent.

Usage: python -m bench.watchdog PARENT_PID
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 5.0


def _table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time) for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                table[int(name)] = (int(fields[1]), int(fields[19]))
            except (OSError, IndexError, ValueError):
                pass
    return table


def descendants(root: int, table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """pid -> start time of every process below `root`."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = {}, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found[pid] = table[pid][1]
        stack += children.get(pid, [])
    return found


def _alive(pid: int, started: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    return int(fields[19]) == started and fields[0] != b"Z"


def watch(parent: int) -> None:
    me = os.getpid()
    known: dict[int, int] = {}
    parent_start = _table().get(parent, (0, -1))[1]
    while _alive(parent, parent_start):
        known.update(descendants(parent, _table()))
        known.pop(me, None)
        known = {pid: started for pid, started in known.items() if _alive(pid, started)}
        time.sleep(POLL_S)
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        left = {pid: s for pid, s in known.items() if _alive(pid, s)}
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline and any(_alive(p, s) for p, s in left.items()):
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
            [sys.executable, "-m", "bench.watchdog", str(parent)],
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
