"""How `make test` shares the tests between its two workers (pytest-xdist,
--dist loadgroup; tests/conftest.py asks for this scheduler).

Each test file is one unit of work, so a module's fixture (a sweep, an
engine) is built once. The files that start vLLM engines or Ray clusters are
one unit together, sent first: no two of them hold the cores, the ports and
~/.ray at once, and the other worker takes the remaining files meanwhile.
(xdist's own loadgroup groups by `xdist_group` marks by rewriting node ids,
which pytest 9 no longer reads.) tests/test_structure.py checks that every
file with a test marked `engine` is named in EXCLUSIVE_FILES.
"""

from __future__ import annotations

from pathlib import PurePosixPath

EXCLUSIVE_FILES = frozenset(
    {
        "test_engine_served.py",
        "test_engine_vllm.py",
        "test_launchers.py",
        "test_reasoner.py",
        "test_search_engine.py",
        "test_tiers.py",
        "test_verifier_engine.py",
    }
)
EXCLUSIVE = "exclusive"


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: EXCLUSIVE, or its file."""
    path = nodeid.split("::", 1)[0]
    return EXCLUSIVE if PurePosixPath(path).name in EXCLUSIVE_FILES else path


def make_scheduler(config, log):
    """The scheduler for --dist loadgroup; None (xdist's own) for other modes."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The longest unit first, whatever its number of tests.
            if EXCLUSIVE in self.workqueue:
                self.workqueue.move_to_end(EXCLUSIVE, last=False)
            super()._assign_work_unit(node)

    return ByFile(config, log)
