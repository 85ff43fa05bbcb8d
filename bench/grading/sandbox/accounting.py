"""Per-run accounting for the code sandbox (execute.py): which uids a run
owns, which processes are its, how much CPU its process trees used, and
clearing them all when it ends.

As root each concurrent run takes a pair of uids (candidate, tests) from a
range far above any account a system hands out. A lock per pair, held for the
run's lifetime, keeps other processes on the host off it (a holder that dies
drops its lock). The lock is an abstract unix socket bound to the pair's
name: one namespace for every process of the host whatever its TMPDIR or
working folder (lock files under the temporary folder let two sweeps with
different TMPDIRs take one pair, and each killed the other's programs as
leftovers), and nothing left on disk. Because the kernel counts RLIMIT_NPROC
per uid over the whole host, a uid per run gives each run a process limit no
other run can use up. A pair that still has processes after clearing is
retired (its lock kept), never reused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench import procs

UID_BASE = 1_860_000_000
UID_SLOTS = 4096


_slot_lock = threading.Lock()
_retired: set[int] = set()
_next_slot = [os.getpid() % UID_SLOTS]


@dataclass
class Slot:
    index: int
    lock: socket.socket

    @property
    def uids(self) -> tuple[int, int]:
        return UID_BASE + 2 * self.index, UID_BASE + 2 * self.index + 1


def lock_name(index: int) -> str:
    """The abstract socket name that locks uid pair `index` on this host."""
    return f"\0thinkbench-sandbox-uids-{UID_BASE}-{index}"


def hold(index: int) -> socket.socket | None:
    """The lock of uid pair `index`, or None when another process holds it."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # not inherited by children
    try:
        lock.bind(lock_name(index))
    except OSError:
        lock.close()
        return None
    return lock


def acquire_slot() -> Slot:
    with _slot_lock:
        for step in range(UID_SLOTS):
            index = (_next_slot[0] + step) % UID_SLOTS
            if index in _retired:
                continue
            lock = hold(index)
            if lock is None:
                continue
            _next_slot[0] = (index + 1) % UID_SLOTS
            slot = Slot(index, lock)
            if clear(slot.uids):  # a holder that died may have left processes behind
                return slot
            _retired.add(index)  # keep the lock: nobody else may use these uids either
    raise RuntimeError("no free sandbox uid slot")


def release_slot(slot: Slot) -> None:
    if clear(slot.uids):
        slot.lock.close()  # closing drops the lock
    else:
        with _slot_lock:
            _retired.add(slot.index)


def processes_of(uids: Sequence[int]) -> list[int]:
    """Pids of the processes (zombies included) owned by `uids`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat(follow_symlinks=False).st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def clear(uids: Sequence[int], wait_s: float = 5.0) -> bool:
    """Kill every process of `uids` and reap those that are ours to reap; True
    when none is left."""
    deadline = time.monotonic() + wait_s
    while True:
        pids = processes_of(uids)
        if not pids:
            return True
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):  # an orphan re-parented to us (a subreaper)
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid`."""
    return [p.pid for p in procs.snapshot().values() if p.parent == pid]


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """CPU seconds used so far by `roots` and every process below them
    (the times of reaped descendants are in their reapers' c-times)."""
    table = procs.snapshot()
    tree = [table[r] for r in roots if r in table] + procs.descendants(list(roots), table)
    return sum(p.cpu_ticks for p in tree) / procs.CLOCK_TICKS
