"""How `make test` shares the tests between its workers (pytest-xdist,
--dist loadgroup; tests/conftest.py asks for this scheduler and pins each
worker to its cores).

Each test file is one unit of work, so a module's fixture (a sweep, an
engine) is built once. The slowest files go first, longest first
(SLOW_FILES), so the unit that ends the run is a short one.

Each worker has cores of its own (worker_cores): a vLLM engine's OpenMP
threads meet at a barrier after every layer, and when another process takes
one of their cores each barrier waits for it. Measured on 2 cores, a DVTS
truth test took 23 s alone and 134-158 s beside the other worker's files. On
a core of its own an engine runs one thread, without barriers to wait at, so
engine files need not wait for one another either.
(xdist's own loadgroup groups by `xdist_group` marks by rewriting node ids,
which pytest 9 no longer reads.) tests/test_structure.py checks that every
file with a test marked `engine` is named in SLOW_FILES.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

# The slowest files, slowest first (seconds on one core of the 2-core
# AVX-512 machine, in a two-worker run); the others follow in collection order.
SLOW_FILES = (
    "test_search_engine.py",
    "test_reliability.py",
    "test_launchers.py",
    "test_run_store.py",
    "test_reasoner.py",
    "test_verifier_engine.py",
    "test_engine_served.py",
    "test_grading_stage.py",
    "test_scale_out.py",
    "test_reward_circuit.py",
    "test_cli.py",
    "test_search.py",
    "test_tiers.py",
    "test_engine_vllm.py",
)


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its file."""
    return nodeid.split("::", 1)[0]


def _rank(unit: str) -> int:
    name = PurePosixPath(unit).name
    return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)


def worker_cores(worker: str, count: int, cores: set[int]) -> set[int] | None:
    """The cores worker `gwN` of `count` runs on: a contiguous share of
    `cores`; None (all of them) with one worker or fewer cores than workers."""
    if count < 2 or len(cores) < count or not worker.startswith("gw"):
        return None
    index = int(worker[2:]) % count
    ordered = sorted(cores)
    share = ordered[index * len(ordered) // count : (index + 1) * len(ordered) // count]
    return set(share)


def pin_this_worker() -> None:
    """Under xdist, keep this worker and every process it starts on its cores."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cores = worker_cores(worker, count, os.sched_getaffinity(0))
    if cores:
        os.sched_setaffinity(0, cores)


def make_scheduler(config, log):
    """The scheduler for --dist loadgroup; None (xdist's own) for other modes."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The slowest units first (a stable sort keeps the others' order).
            ordered = sorted(self.workqueue.items(), key=lambda item: _rank(item[0]))
            self.workqueue.clear()
            self.workqueue.update(ordered)
            super()._assign_work_unit(node)

    return ByFile(config, log)
