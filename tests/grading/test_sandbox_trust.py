"""A sandbox's verdicts must not depend on what ran before it, and a sandbox
that cannot run must never pass for programs that crashed.

- Every writable place a program can reach is sized, checked from the host
  (its shared memory before and during the run), one run and four at once.
- The view ignores the harness's environment: vLLM's CPU build puts its venv's
  libgomp into LD_PRELOAD and LD_LIBRARY_PATH, and nothing of the harness's
  own folders may enter the view (nor break it, under a 0700 folder).
- A sandbox broken on purpose gives `sandbox_error` (no verdict), the
  control check and the code grader stop with one line, and a sweep stops
  before it generates anything (exit 8 from the command line).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import threading
import time

import pandas as pd
import pytest
from helpers import needs_bwrap, needs_sandbox

from bench.cli.errors import EXIT_SANDBOX, exit_code
from bench.grading.code import grade as code
from bench.grading.runtime.pool import GradingPool
from bench.grading.sandbox import execute as sandbox
from bench.grading.sandbox import view as sandbox_view
from bench.grading.sandbox.execute import check_sandbox, isolation, run_many, run_tests
from bench.grading.sandbox.outcome import DETAIL_CHARS, SANDBOX_ERROR, SandboxError
from bench.grading.sandbox.view import Scratch, harness_folders, runtime_paths

ADD = "def add(a, b):\n    return a + b\n"
SUB = "def add(a, b):\n    return a - b\n"
CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


def _shmem() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no Shmem line in /proc/meminfo")


# Writes into every folder of its view (not only the usual suspects), up to
# 1 GiB in all, then holds what it wrote while the host measures.
FILL_EVERYWHERE = textwrap.dedent(
    """
    import os, time
    places = []
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys")):
            dirs[:] = []
            continue
        places.append(root)
    written, budget = 0, 1 << 30
    for place in places:
        for i in range(4):
            if written >= budget:
                break
            try:
                with open(os.path.join(place, f".fill{i}"), "wb") as f:
                    for _ in range(16):
                        f.write(b"x" * (1 << 20))
                        written += 1 << 20
            except OSError:
                break
    print(len(places), written, flush=True)
    time.sleep(1.0)
    def add(a, b):
        return a + b
    """
)


def _peak_growth(run) -> tuple[int, object]:
    """(the host's largest shared-memory growth while `run()` ran, its result)."""
    base = _shmem()
    peak = [base]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _shmem())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run()
    finally:
        done.set()
        watcher.join()
    return peak[0] - base, result


# Other processes on the host move shared memory a little too.
NOISE = 24 << 20


@needs_bwrap
@pytest.mark.parametrize("runs", [1, 4])
def test_every_writable_place_is_sized_as_the_host_sees_it(runs):
    growth, results = _peak_growth(
        lambda: run_many([(FILL_EVERYWHERE, CHECK, "add")] * runs, timeout_s=30, workers=runs)
    )
    for result in results:
        assert result.passed, result.stderr[-500:]
        folders, written = (int(x) for x in result.stdout.split())
        assert folders > 10  # it did walk the whole view
        assert 0 < written <= Scratch().per_side  # the scratch areas, nothing more
    assert growth <= runs * Scratch().per_run + NOISE, f"host shared memory grew {growth >> 20} MiB"


@needs_bwrap
def test_the_root_and_its_mount_points_are_read_only():
    program = textwrap.dedent(
        """
        import os
        writable = []
        for place in ("/", "/usr", "/etc", "/sandbox", "/dev", "/run", "/var", "/opt", "/mnt",
                      "/home", "/srv", "/root", "/lib", "/bin"):
            try:
                with open(os.path.join(place, ".probe"), "wb") as f:
                    f.write(b"x")
                writable.append(place)
            except OSError:
                pass
            try:
                os.mkdir(os.path.join(place, ".probe-dir"))
                writable.append(place + " (mkdir)")
            except OSError:
                pass
        print(writable)
        def add(a, b):
            return a + b
        """
    )
    result = run_tests(program, CHECK, "add")
    assert result.passed, result.stderr[-500:]
    assert result.stdout.strip() == "[]"


@needs_bwrap
@pytest.mark.parametrize("call", ["os.memfd_create('x')", "os.memfd_create('x', os.MFD_CLOEXEC)"])
def test_unnamed_ram_files_are_refused(call):
    program = (
        f"import os\ntry:\n    {call}\n    MADE = True\nexcept OSError:\n    MADE = False\n"
        "def add(a, b):\n    return a + b if not MADE else 0\n"
    )
    assert run_tests(program, CHECK, "add").status == "passed"


# ---- the view does not depend on the harness's environment ----


def _library_of_python() -> str:
    """A shared library the sandbox's Python loads (not libc): one a planted
    LD_LIBRARY_PATH would make ldd resolve elsewhere."""
    objects = sandbox_view._shared_libraries([sandbox.sandbox_python()])
    for path in sorted(objects):
        name = os.path.basename(path)
        if name.startswith(("libz.", "libm.", "libexpat.", "libpython")):
            return path
    pytest.skip("the sandbox's Python loads no library to plant a copy of")


@pytest.fixture
def planted_engine_environment(tmp_path, monkeypatch):
    """LD_PRELOAD and LD_LIBRARY_PATH pointing into a folder under a 0700
    parent, as vLLM's CPU build leaves them in the process that built an engine."""
    private = tmp_path / "private"
    libs = private / "venv" / "lib" / "python3.11" / "site-packages" / "torch" / "lib"
    libs.mkdir(parents=True)
    private.chmod(0o700)
    library = _library_of_python()
    shutil.copy2(library, libs / os.path.basename(library))
    gomp = libs / "libgomp.so.1"
    shutil.copy2(library, gomp)  # a library every process would preload
    monkeypatch.setenv("LD_PRELOAD", str(gomp))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libs))
    runtime_paths.cache_clear()
    yield private
    runtime_paths.cache_clear()


def test_the_view_ignores_ld_preload_and_ld_library_path(planted_engine_environment):
    binds, _ = runtime_paths(sandbox.sandbox_python())
    planted = str(planted_engine_environment)
    assert not [b for b in binds if b == planted or b.startswith(planted + "/")]


@needs_sandbox
def test_verdicts_are_right_after_an_engine_set_its_libraries(planted_engine_environment):
    assert run_tests(ADD, CHECK, "add").status == "passed"
    wrong = run_tests(SUB, CHECK, "add")
    assert wrong.status == "failed", wrong.stderr[-500:]


def test_nothing_of_the_harness_is_in_the_view():
    binds, _ = runtime_paths(sandbox.sandbox_python())
    for own in harness_folders():
        assert not [b for b in binds if b == own or b.startswith(own + "/")], own


# ---- a sandbox that cannot start is not a program that crashed ----


@pytest.fixture
def broken_sandbox(monkeypatch, tmp_path):
    """bwrap asked to bind a folder that does not exist: it refuses to start."""
    real = sandbox.bwrap_args
    missing = str(tmp_path / "no-such-folder")

    def broken(*args, **kwargs):
        return [*real(*args, **kwargs), "--ro-bind", missing, "/missing"]

    monkeypatch.setattr(sandbox, "bwrap_args", broken)
    monkeypatch.setattr(sandbox, "_control_passed", [])
    return missing


@needs_bwrap
def test_a_sandbox_that_cannot_start_gives_no_verdict(broken_sandbox):
    for program in (ADD, SUB, "import os\nos._exit(1)\n"):
        result = run_tests(program, CHECK, "add")
        assert result.status == SANDBOX_ERROR and not result.passed
        assert "did not start" in result.detail and "no-such-folder" in result.detail
        assert "\n" not in result.detail


@needs_bwrap
def test_the_control_check_names_a_broken_sandbox_in_one_line(broken_sandbox):
    with pytest.raises(SandboxError) as raised:
        check_sandbox()
    message = str(raised.value)
    assert "\n" not in message and "sandbox" in message and "no-such-folder" in message


@needs_bwrap
def test_the_code_grader_grades_nothing_with_a_broken_sandbox(broken_sandbox):
    gold = json.dumps({"test": CHECK, "entry_point": "add"})
    with pytest.raises(SandboxError):
        code.check_many([(ADD, gold, 5.0)], 5.0)
    rows = [
        {"key": "k", "task": "c", "answer_text": f"```python\n{ADD}```", "gold": gold},
    ]
    pool = GradingPool(quiet=True)
    try:
        with pytest.raises(SandboxError):
            pool.grade(rows, {"c": "code"})
    finally:
        pool.close()


@needs_bwrap
def test_the_control_check_passes_a_working_sandbox():
    sandbox._control_passed.clear()
    check_sandbox()  # no exception
    assert isolation() in sandbox._control_passed


def test_a_broken_python_is_a_sandbox_error(monkeypatch):
    monkeypatch.setattr(sandbox, "sandbox_python", lambda: "/no/such/python3")
    result = run_tests(ADD, CHECK, "add")
    assert result.status == SANDBOX_ERROR and not result.passed


def test_a_broken_sandbox_exits_8_with_one_line(capsys):
    message = "the code sandbox does not work here: the tests sandbox did not start (bwrap): x"
    assert exit_code(SandboxError(message)) == EXIT_SANDBOX == 8
    err = capsys.readouterr().err
    assert err == f"error: {message}\n"


def test_a_stage_that_found_the_sandbox_broken_raises_sandbox_error(tmp_path):
    from bench.grading.runtime.stage import GradingStage
    from bench.grading.runtime.stage_process import _error

    kind, text = _error(SandboxError("the code sandbox does not work here: x"))
    assert kind == "sandbox_error"
    stage = GradingStage(tmp_path, {"humaneval": "code"})
    stage.error, stage.sandbox_broken = text, True
    with pytest.raises(SandboxError, match="does not work here: x; what was generated is stored"):
        stage.raise_error()
    assert _error(ValueError("y")) == ("error", "ValueError: y")


@needs_bwrap
def test_a_sweep_stops_before_generating_when_the_sandbox_is_broken(
    broken_sandbox, make_cfg, tmp_path
):
    from test_grading_stage import CODE, mini_humaneval

    from bench.sweep.runner import Sweep

    data = mini_humaneval(tmp_path / "data", problems=2)
    cfg = make_cfg(*CODE, f"suite.data_dir={data}")
    with pytest.raises(SandboxError, match="sandbox"):
        Sweep(cfg).run()
    assert not list((tmp_path / "results").rglob("part-*.parquet"))


# ---- the status of every code check is kept ----


@needs_bwrap
def test_grade_records_keep_the_sandbox_status_and_a_short_detail(make_cfg, tmp_path):
    from test_grading_stage import CODE, mini_humaneval

    from bench.report.summary import format_statuses, status_table
    from bench.sweep.runner import Sweep

    data = mini_humaneval(tmp_path / "data", problems=4)
    run_dir = Sweep(make_cfg(*CODE, f"suite.data_dir={data}")).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert set(records["status"]) <= {"passed", "failed", "no_code"}
    assert (records["status"] == "passed").eq(records["correct"]).all()
    failed = records[records["status"] == "failed"]
    assert not failed.empty
    assert failed["detail"].str.contains("AssertionError").all()
    assert failed["detail"].str.len().max() <= DETAIL_CHARS
    table = status_table(run_dir)
    assert {"budget", "passed", "failed", "attempts"} <= set(table.columns)
    assert table["attempts"].sum() == len(records)
    assert "how the checks ended" in format_statuses(table)


def test_status_counts_per_budget_on_hand_made_records():
    from bench.analysis.grading_status import status_counts

    records = pd.DataFrame(
        {
            "model": "m",
            "task": "t",
            "strategy": "single",
            "budget": [16, 16, 16, 64, 64, 64],
            "status": ["passed", "crashed", None, "timeout", "zz_new", "passed"],
        }
    )
    table = status_counts(records).set_index("budget")
    assert table.loc[16, "passed"] == 1 and table.loc[16, "crashed"] == 1
    assert table.loc[16, "attempts"] == 2  # the attempt with no status is not counted
    assert table.loc[64, "timeout"] == 1 and table.loc[64, "zz_new"] == 1
    assert list(table.columns)[-2:] == ["zz_new", "attempts"]  # unknown statuses last
    assert status_counts(records.drop(columns="status")).empty
    assert status_counts(records.assign(status=None)).empty


def test_unjudged_attempts_are_exactly_those_without_a_verdict(tmp_path):
    from bench.grading import verdict_statuses
    from bench.run.store import RunStore

    store = RunStore(tmp_path / "run")
    keys = [f"k{i}" for i in range(7)]
    store.append_generations([{"key": k, "task": "t", "answer_text": "x"} for k in keys])
    store.append_grades(
        [
            {"key": "k0", "grader": "code", "correct": True, "status": "passed"},
            {"key": "k1", "grader": "code", "correct": False, "status": "crashed"},
            {"key": "k2", "grader": "code", "correct": False, "status": SANDBOX_ERROR},
            {"key": "k3", "grader": "code", "correct": False, "status": None},
            {"key": "k4", "grader": "numeric", "correct": False, "status": None},
            {"key": "k5", "grader": "code", "correct": False, "status": "no_code"},
        ]
    )
    # k6 was never graded; k3 was graded before statuses were kept.
    unjudged = set(store.unjudged(verdict_statuses())["key"])
    assert unjudged == {"k2", "k3", "k6"}
    # A later grade with a verdict wins over the earlier sandbox failure.
    store.append_grades([{"key": "k2", "grader": "code", "correct": True, "status": "passed"}])
    assert set(store.unjudged(verdict_statuses())["key"]) == {"k3", "k6"}


@needs_bwrap
def test_bench_grade_unjudged_regrades_only_those(make_cfg, tmp_path):
    from helpers import bench
    from test_grading_stage import CODE, mini_humaneval

    from bench.run.store import RunStore
    from bench.sweep.runner import Sweep

    data = mini_humaneval(tmp_path / "data", problems=2)
    run_dir = Sweep(make_cfg(*CODE, f"suite.data_dir={data}")).run()
    store = RunStore(run_dir, create=False)
    grades = store.grades()
    victim = grades["key"].iloc[0]
    store.append_grades(
        [{**grades.iloc[0].to_dict(), "status": SANDBOX_ERROR, "correct": False, "key": victim}]
    )
    before = len(store.grades())
    result = bench("grade", str(run_dir), "--unjudged")
    assert result.returncode == 0, result.stderr
    assert "graded 1 attempt(s)" in result.stdout
    after = RunStore(run_dir, create=False).grades().set_index("key")
    assert after.loc[victim, "status"] in ("passed", "failed")
    assert len(after) == before
    assert "how the checks ended" in bench("show", str(run_dir)).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="runs drop to other uids only as root")
def test_a_private_tmpdir_does_not_break_the_sandbox(tmp_path, monkeypatch):
    """As root each run drops to uids of its own, which must pass through the
    folders above its inputs: a TMPDIR with mode 0700 (a private one some
    machines set) is passed over for /tmp, and nothing is left in either."""
    import tempfile

    from bench.grading.code.programs import check_program

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before = set(os.listdir("/tmp"))
    result = sandbox.run_tests("def add(a, b):\n    return a + b\n", CHECK, "add")
    assert result.status == "passed", result.detail
    gold = {"tests": [{"input": "1 2", "output": "3", "testtype": "stdin"}]}
    assert check_program("print(sum(map(int, input().split())))", gold, 5.0).passed
    assert not [p for p in private.iterdir() if p.name.startswith("thinkbench-run-")]
    assert not {n for n in set(os.listdir("/tmp")) - before if n.startswith("thinkbench-run-")}
