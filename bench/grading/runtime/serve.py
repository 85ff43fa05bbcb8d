"""A grading worker's main loop: `python -m bench.grading.runtime.serve FD [MODULE...]`.

It imports the named modules, says it is ready, then answers (function,
item) requests on the pipe FD one at a time. Nothing in the package imports
this module, so `-m` runs it fresh (runpy warns when a module it is asked
to run was already imported by its package).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

READY = "ready"


def _serve(conn: Connection, preload: list[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    conn.send(READY)
    functions: dict[str, Callable[[Any], Any]] = {}
    while True:
        try:
            target, item = conn.recv()
        except (EOFError, OSError):
            return
        fn = functions.get(target)
        if fn is None:
            module, _, name = target.partition(":")
            fn = functions[target] = getattr(importlib.import_module(module), name)
        try:
            conn.send((True, fn(item)))
        except Exception as exc:  # the caller turns this into its default verdict
            conn.send((False, f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), sys.argv[2:])
