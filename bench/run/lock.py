"""One writer per run folder.

A sweep (and `bench grade`, `bench repair`, `bench merge` into a folder)
holds RUN/.lock with flock(2) while it writes, and records in it who holds
it (command, pid, host, since when). A second writer refuses in one line
that names the holder, or waits with wait=True. The kernel drops a flock
when its holder dies, however it dies, so a stale lock of a dead process is
simply free: nothing to clean up, nothing to guess from pids. The lock's
file descriptor is close-on-exec, so engine processes a sweep starts do not
inherit it and cannot keep a dead sweep's folder locked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK = ".lock"


class RunLockedError(RuntimeError):
    """Another process is writing this run folder."""


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    return (
        f"{holder.get('command', 'a bench command')} (pid {holder.get('pid')} on "
        f"{holder.get('host')}, since {holder.get('since')})"
    )


def holder(run_dir: Path) -> dict[str, Any] | None:
    """Who holds the run folder's lock now; None when nobody does."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {"command": "a bench command"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        info = json.loads(data or b"{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


class RunLock:
    """`with RunLock(run_dir, "bench sweep"):` holds the folder for writing."""

    def __init__(self, run_dir: Path, command: str, wait: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.command = command
        self.wait = wait
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _describe(_read(fd))
            if not self.wait:
                os.close(fd)
                raise RunLockedError(
                    f"{self.run_dir} is being written by {who}; wait for it to finish, "
                    "or pass wait_for_lock=true (bench sweep) / --wait to wait for it"
                ) from None
            print(f"waiting for {who} to finish with {self.run_dir} ...", flush=True)
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            print(f"got {self.run_dir} after {time.monotonic() - started:.0f} s", flush=True)
        info = {
            "command": self.command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": dt.datetime.now().isoformat(timespec="seconds"),
            "argv": sys.argv[1:][:20],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
