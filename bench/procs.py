"""What the kernel says about processes (/proc), read in one place: used to
account a sandbox run's process tree (grading/sandbox/accounting.py), by the
watchdog that follows a sweep (watchdog.py), and by `bench perf`.

Fields come from /proc/PID/stat, split after the last ")" (a process name
may hold spaces and parentheses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    state: str  # "R", "S", "Z" (zombie), ...
    start: int  # start time in clock ticks after boot: tells a reused pid apart
    cpu_ticks: int  # utime + stime + cutime + cstime (reaped children's time included)


def read(pid: int) -> Process | None:
    """One process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return Process(
            pid,
            int(fields[1]),
            fields[0].decode(),
            int(fields[19]),
            sum(int(x) for x in fields[11:15]),
        )
    except (OSError, IndexError, ValueError):
        return None


def snapshot() -> dict[int, Process]:
    """Every process on the host, by pid."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (process := read(int(name))) is not None:
            table[process.pid] = process
    return table


def descendants(roots: list[int], table: dict[int, Process]) -> list[Process]:
    """Every process below `roots` in `table` (the roots not included)."""
    children: dict[int, list[int]] = {}
    for process in table.values():
        children.setdefault(process.parent, []).append(process.pid)
    found, stack = [], [pid for root in roots for pid in children.get(root, [])]
    while stack:
        pid = stack.pop()
        found.append(table[pid])
        stack += children.get(pid, [])
    return found


def alive(pid: int, start: int) -> bool:
    """Whether the process that started at `start` still runs (not a zombie)."""
    process = read(pid)
    return process is not None and process.start == start and process.state != "Z"
