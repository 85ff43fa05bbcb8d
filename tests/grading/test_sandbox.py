"""The code sandbox against hostile programs: each is contained, gets the
right verdict in bounded time, and leaves the host and the harness as they
were. Also code extraction and pass@k."""

from __future__ import annotations

import os
import socket
import threading
import time
from math import comb
from pathlib import Path

import pytest
from helpers import DATA, needs_sandbox
from helpers import accept_into as _accept

from bench.analysis.metrics import pass_at_k
from bench.grading.code.grade import extract_code, run_tests
from bench.grading.sandbox.accounting import processes_of
from bench.grading.sandbox.execute import OUTPUT_CAP

pytestmark = needs_sandbox

ADD = "def add(a, b):\n    return a + b\n"
CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


def test_a_correct_program_passes_and_a_wrong_one_fails():
    assert run_tests(ADD, CHECK, "add").status == "passed"
    assert run_tests("def add(a, b):\n    return a - b\n", CHECK, "add").status == "failed"
    assert run_tests(ADD, "assert add(1, 1) == 2\n").status == "passed"  # MBPP style
    assert run_tests("def add(a, b) return", CHECK, "add").status == "error"


@pytest.mark.parametrize(
    "program, expected",
    [
        ("import os\nos._exit(0)\n" + ADD, "failed"),  # exit 0 before the tests: no proof
        ("import sys\nsys.exit(0)\n" + ADD, "error"),
        ("raise SystemExit(0)\n", "error"),
    ],
)
def test_exiting_early_is_never_a_pass(program, expected):
    assert run_tests(program, CHECK, "add").status == expected


def test_infinite_loop_times_out_within_bounds():
    started = time.monotonic()
    result = run_tests("while True:\n    pass\n", CHECK, "add", timeout_s=1.0)
    assert result.status == "timeout"
    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_sleeping_forever_hits_the_wall_clock_limit():
    started = time.monotonic()
    result = run_tests("import time\ntime.sleep(3600)\n", CHECK, "add", timeout_s=1.0)
    assert result.status == "timeout" and time.monotonic() - started < 10


def test_fork_bomb_is_contained_and_leaves_no_processes():
    bomb = "import os\nprint(os.getuid(), flush=True)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    result = run_tests(bomb, CHECK, "add", timeout_s=1.0)
    assert not result.passed and result.status in ("timeout", "crashed", "error")
    assert time.monotonic() - started < 15
    if os.geteuid() == 0:  # every process of the run's uid is gone when it returns
        assert processes_of([int(result.stdout.split()[0])]) == []


def test_memory_bomb_is_stopped():
    result = run_tests("x = bytearray(8 * 1024**3)\n", CHECK, "add")
    assert result.status in ("error", "crashed") and "MemoryError" in result.stderr


def test_stdout_flood_is_capped():
    flood = "import sys\nfor _ in range(200000):\n    sys.stdout.write('x' * 1000)\n" + ADD
    result = run_tests(flood, CHECK, "add", timeout_s=20)
    assert result.status == "passed"  # the flood is drained, the tests still run
    assert len(result.stdout) <= OUTPUT_CAP


def test_files_outside_its_folder_cannot_be_written_or_deleted(tmp_path):
    victim = DATA / "math_cases.json"
    before = victim.read_bytes()
    program = f"import os\nos.remove({str(victim)!r})\n"
    assert run_tests(program, CHECK, "add").status == "error"
    program = f"open({str(victim)!r}, 'w').write('owned')\n"
    assert run_tests(program, CHECK, "add").status == "error"
    program = "open('/etc/thinkbench-owned', 'w').write('x')\n"
    assert run_tests(program, CHECK, "add").status == "error"
    assert victim.read_bytes() == before and not Path("/etc/thinkbench-owned").exists()
    # Its own folder and /tmp are writable, and private to the run.
    program = "open('mine.txt', 'w').write('x')\nopen('/tmp/scratch', 'w').write('x')\n" + ADD
    assert run_tests(program, CHECK, "add").status == "passed"


@pytest.mark.slow
def test_no_connection_reaches_a_server_on_the_host():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(5)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: _accept(server, accepted), daemon=True)
    thread.start()
    program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n" + ADD
    assert run_tests(program, CHECK, "add").status == "error"
    thread.join(timeout=6)
    server.close()
    assert accepted == []


def test_the_harness_environment_does_not_leak(monkeypatch):
    monkeypatch.setenv("THINKBENCH_TEST_SECRET", "sk-do-not-leak")
    program = "import os\nprint(dict(os.environ))\nprint(open('/proc/1/environ','rb').read())\n"
    result = run_tests(program + ADD, CHECK, "add")
    assert "sk-do-not-leak" not in result.stdout + result.stderr


def test_killing_its_parent_does_not_touch_the_harness():
    program = (
        "import os, signal\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "os.killpg(0, signal.SIGKILL)\n"
    )
    result = run_tests(program, CHECK, "add")
    assert not result.passed
    assert run_tests(ADD, CHECK, "add").passed  # the harness is alive and still works


def test_extracts_the_last_complete_python_block_without_prose():
    text = (
        "Here is a first try:\n```python\ndef f(): return 1\n```\n"
        "Better:\n```python\ndef f():\n    return 2\n```\nThat's it."
    )
    assert extract_code(text, prompt="") == "def f():\n    return 2\n"
    # An unclosed block (cut off) is not complete: the earlier one wins.
    assert extract_code(text + "\n```python\ndef g(", prompt="") == "def f():\n    return 2\n"


def test_humaneval_continuations_join_the_prompt():
    prompt = 'def add(a, b):\n    """Add."""\n'
    assert extract_code("    return a + b\n", prompt=prompt) == prompt + "    return a + b\n"
    # A full definition in a fence stands alone (the prompt's imports are kept).
    fenced = "```python\ndef add(a, b):\n    return a + b\n```"
    assert extract_code(fenced, prompt="import math\n" + prompt).startswith("import math\n")


def test_pass_at_k_matches_the_definition_and_stays_stable():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 5), (20, 20, 5), (5, 2, 5)]:
        exact = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact)
    assert pass_at_k(10_000, 5, 100) == pytest.approx(1 - comb(9995, 100) / comb(10_000, 100))
    with pytest.raises(ValueError, match="k=11"):
        pass_at_k(10, 3, 11)


def test_grading_pool_runs_code_checks_in_parallel_sandboxes():
    import json

    from bench.grading.runtime.pool import GradingPool

    gold = json.dumps({"test": CHECK, "entry_point": "add", "prompt": "def add(a, b):\n"})
    rows = [
        {
            "key": "fenced",
            "task": "c",
            "gold": gold,
            "answer_text": "Final answer:\n```python\ndef add(a, b):\n    return a + b\n```\n",
        },
        {"key": "continued", "task": "c", "gold": gold, "answer_text": "    return a + b\n"},
        {
            "key": "wrong",
            "task": "c",
            "gold": gold,
            "answer_text": "```python\ndef add(a, b):\n    return 0\n```",
        },
        {"key": "prose", "task": "c", "gold": gold, "answer_text": "I am not sure."},
    ]
    pool = GradingPool(2)
    try:
        grades = {g["key"]: g["correct"] for g in pool.grade(rows, {"c": "code"})}
    finally:
        pool.close()
    assert grades == {"fenced": True, "continued": True, "wrong": False, "prose": False}


def test_a_stray_closing_fence_ends_unfenced_code():
    answer = "Final answer:\n    return a + b\n```\nSome words."
    assert extract_code(answer, prompt="def add(a, b):\n") == "def add(a, b):\n    return a + b\n"


HOLD_A_SLOT = """
import sys
from bench.grading.sandbox import accounting
accounting._next_slot[0] = int(sys.argv[1])
slot = accounting.acquire_slot()
print(slot.index, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("their_tmpdir", ["same", "other"])
def test_a_uid_pair_another_process_holds_is_never_taken(tmp_path, monkeypatch, their_tmpdir):
    """Whatever its TMPDIR: two sweeps (or two test workers) with different
    temporary folders once took one pair, and each killed the other's
    programs as leftovers when it started."""
    import subprocess
    import sys

    from bench.grading.sandbox import accounting

    index = 4000 + os.getpid() % 90  # not where this process's own slots start
    env = dict(os.environ)
    if their_tmpdir == "other":
        (tmp_path / "elsewhere").mkdir()
        env["TMPDIR"] = str(tmp_path / "elsewhere")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SLOT, str(index)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == str(index)
        monkeypatch.setattr(accounting, "_next_slot", [index])
        slot = accounting.acquire_slot()
        try:
            assert slot.index != index
        finally:
            accounting.release_slot(slot)
    finally:
        holder.communicate("", timeout=30)
    # The holder gone, its lock is gone with it; nothing was left on disk.
    monkeypatch.setattr(accounting, "_next_slot", [index])
    slot = accounting.acquire_slot()
    assert slot.index == index
    accounting.release_slot(slot)
    import tempfile

    assert not (Path(tempfile.gettempdir()) / "thinkbench-sandbox-uids").exists()
