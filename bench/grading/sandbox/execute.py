"""Run model-written code against its tests, as hostile code.

Threat model. The candidate program may do anything Python allows: forge
equality, patch builtins or the standard library, install trace hooks, read
its own memory and frames, fork, fill disks, sleep, exit early, kill what it
can see. What we guarantee:

* **A trust boundary.** A run is two sandboxes. The candidate runs alone in
  a fresh interpreter (candidate.py). The tests run in another
  (judge.py), together with the task's own code (its test imports;
  for HumanEval, the prompt with its helpers), and call the candidate's
  functions through proxies. Only plain data crosses, by pipes, as tagged
  JSON (wire.py) decoded into exact builtin types, so every
  comparison runs on values the trusted side built; objects with their own
  `__eq__`, subclasses, patched builtins and trace hooks stay in the
  candidate's process. The verdict comes from the trusted process over a
  channel the candidate never holds. A value that is not plain data (a
  generator, a custom object) cannot cross: that call raises TypeError in
  the tests, so the run fails. Honest values of stdlib subclasses cross as
  their base type (Counter as dict, namedtuple as tuple) and a regex match
  as True (its truth value, all MBPP reads of one): every HumanEval and
  MBPP reference solution passes.
* **A minimal view of the host** (view.py): only the Python runtime,
  a minimal /etc, read-only /dev, and sized tmpfs scratch areas; no project,
  datasets, results, home, host sockets or network; separate pid, ipc, uts
  and user namespaces; no nested user namespaces; a seccomp filter.
* **Per-run accounting.** As root each concurrent run gets its own two uids
  (held with a lock file, so other processes on the host skip them), so
  RLIMIT_NPROC, which the kernel counts per uid over the whole host, is that
  run's alone. Each sandbox's program is PID 1 of its namespace: when it
  ends, the kernel kills and reaps everything it started, and no reaper
  process is orphaned (bubblewrap's own one would be, and on a host whose
  init does not reap it stays a zombie that counts against the uid). CPU
  time is summed over both process trees while they run and the run is
  stopped at its limit (RLIMIT_CPU, per process, only backs this up). After
  a run every process of its uids is killed; a uid that cannot be cleared is
  retired, never reused.
* `run_tests` never raises: every outcome, a sandbox failure included, is a
  status. A sandbox that did not start is never taken for a program that
  crashed: each side writes one byte on a start-up pipe before anything else
  runs (the program cannot stop or forge that), and a side that wrote none
  gives status "sandbox_error", which is no verdict on the program.
  `check_sandbox()` runs a control program (one that must pass, one that
  must fail) before a batch is graded, and graders stop with `SandboxError`
  (one line) rather than store verdicts from a broken sandbox.

Not guaranteed: side channels (timing, CPU load), and, without root, a
process limit of its own per run (then the harness's uid is shared and the
run is bounded by time and RLIMIT_NPROC over that uid). Without
bubblewrap the fallback is `unshare` (user, pid, net namespaces), else
rlimits only; `isolation()` says which and sweeps record it in the manifest.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from pathlib import Path

from bench.grading.sandbox.accounting import (
    Slot,
    acquire_slot,
    children_of,
    processes_of,
    release_slot,
    tree_cpu_seconds,
)
from bench.grading.sandbox.outcome import (
    SANDBOX_ERROR,
    Ending,
    SandboxError,
    TestResult,
    outcome,
)
from bench.grading.sandbox.view import Scratch, bwrap_args, seccomp_program, write_minimal_etc

HERE = Path(__file__).parent
CANDIDATE_FILES = ("candidate.py", "wire.py")
TESTS_FILES = ("judge.py", "wire.py")
OUTPUT_CAP = 64 * 1024  # bytes of stdout / stderr kept per run
MEMORY_BYTES = 1 << 30  # address space per process
MAX_PROCESSES = 64
FILE_BYTES = 16 << 20
OPEN_FILES = 256
# Wall-clock allowance over the CPU limit: a run shares the cores with the
# other runs (one per core) and the harness, and sleeps cost no CPU.
WALL_FACTOR = 2.0
POLL_S = 0.05
CPU_SCAN_AFTER_S = 0.25


_probe_lock = threading.Lock()
# The namespace tools run with none of the harness's environment (no
# LD_PRELOAD or LD_LIBRARY_PATH that an engine put there).
_TOOL_ENV = {"PATH": "/usr/bin:/bin"}


def isolation() -> str:
    """ "bwrap", "unshare" or "rlimits" (the strongest this machine offers)."""
    with _probe_lock:  # threads of one pool ask at once; probe once
        return _isolation()


@cache
def _isolation() -> str:
    probe_bwrap = [
        *("bwrap", "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--disable-userns"),
        *("--die-with-parent", "--as-pid-1", "true"),
    ]
    for tool, probe in (
        ("bwrap", probe_bwrap),
        ("unshare", ["unshare", "-Urnpf", "--mount-proc", "true"]),
    ):
        if shutil.which(tool):
            try:
                done = subprocess.run(probe, capture_output=True, timeout=20, env=_TOOL_ENV)
                if done.returncode == 0:
                    return tool
            except (OSError, subprocess.TimeoutExpired):
                pass
    warnings.warn(
        "no namespace tool works here (install Debian's bubblewrap): generated code runs "
        "with rlimits only, without filesystem, network or pid isolation",
        stacklevel=2,
    )
    return "rlimits"


@cache
def sandbox_python() -> str:
    """The system's Python where there is one: generated code needs only the
    standard library, and a project venv under a private home (/root) is not
    readable by the unprivileged users runs drop to."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    import sys

    return sys.executable


def _as_root() -> bool:
    return os.geteuid() == 0


def scratch_folder() -> Path:
    """A new folder for one run's inputs. As root the runs drop to other uids,
    which must pass through every folder above it: under TMPDIR when others
    may traverse it, else under /tmp; one line naming TMPDIR when neither."""
    if not _as_root():
        return Path(tempfile.mkdtemp(prefix="thinkbench-run-"))
    for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
        try:
            if os.stat(parent).st_mode & 0o001 and os.access(parent, os.W_OK):
                return Path(tempfile.mkdtemp(prefix="thinkbench-run-", dir=parent))
        except OSError:
            continue
    raise SandboxError(
        f"TMPDIR={tempfile.gettempdir()} (and /tmp) cannot be traversed by other users; "
        "the sandbox runs code as its own uids: point TMPDIR at a folder with mode 1777"
    )


def _limits(cpu_seconds: float, uid: int | None, processes: int) -> None:
    """In the child before exec: rlimits, then (as root) become the run's uid.
    (No imports here: the parent may have threads holding the import lock.)"""
    cpu = max(1, int(cpu_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _drain(stream, keep: list[bytes], cap: int = OUTPUT_CAP) -> None:
    """Read everything (so the child never blocks on a full pipe), keep the
    first `cap` bytes and one more, so a reader can tell the output overflowed."""
    kept = 0
    while chunk := stream.read(65536):
        if kept <= cap:
            keep.append(chunk[: cap + 1 - kept])
            kept += len(keep[-1])
    stream.close()


def _feed(stream, data: bytes) -> None:
    """Write a program's whole stdin, then close it; a program that exits
    without reading it all closes the pipe, which is no error of ours."""
    with contextlib.suppress(OSError):
        stream.write(data)
    with contextlib.suppress(OSError):
        stream.close()


class _Process:
    """One sandboxed interpreter, its output drained by threads."""

    def __init__(
        self,
        argv: list[str],
        cwd: str,
        fds: tuple[int, ...],
        preexec,
        stdin: bytes | None = None,
        stdout_cap: int = OUTPUT_CAP,
    ) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.stdout_cap = stdout_cap
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            # bwrap itself must not carry the harness's environment either.
            env=_TOOL_ENV,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=preexec,
        )
        self.readers = [
            threading.Thread(
                target=_drain, args=(self.proc.stdout, self.out, stdout_cap), daemon=True
            ),
            threading.Thread(target=_drain, args=(self.proc.stderr, self.err), daemon=True),
        ]
        if stdin is not None:
            self.readers.append(
                threading.Thread(target=_feed, args=(self.proc.stdin, stdin), daemon=True)
            )
        for reader in self.readers:
            reader.start()

    def kill(self) -> None:
        """Kill the namespace's PID 1 (bwrap's child) first and let bwrap reap
        it; killing bwrap first would orphan it to the host's init."""
        if self.proc.poll() is not None:
            return
        for pid in children_of(self.proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()

    def finish(self) -> tuple[str, str]:
        self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        return (
            b"".join(self.out)[: self.stdout_cap].decode(errors="replace"),
            b"".join(self.err)[:OUTPUT_CAP].decode(errors="replace"),
        )

    @property
    def overflowed(self) -> bool:
        """More than stdout_cap bytes came out (read after finish())."""
        return sum(map(len, self.out)) > self.stdout_cap


def _command(
    tool: str, script: str, inputs: str, etc: str, args: list[str], seccomp_fd: int | None
):
    python = sandbox_python()
    if tool == "bwrap":
        view = bwrap_args(python, inputs, etc, Scratch(), seccomp_fd)
        return [*["bwrap", *view], python, "-I", f"/sandbox/{script}", *args], inputs
    prefix = ["unshare", "-Urnpf", "--mount-proc", "--kill-child"] if tool == "unshare" else []
    return [*prefix, "env", "-i", python, "-I", os.path.join(inputs, script), *args], inputs


def _inputs(folder: Path, files: dict[str, str], scripts: Sequence[str], uid: int | None) -> str:
    """A read-only input folder for one side, readable by that side's uid only."""
    folder.mkdir(mode=0o700)
    for name, text in files.items():
        # A lone surrogate cannot be UTF-8: kept as an undecodable byte, the
        # program fails to load inside the sandbox (status error).
        (folder / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    for name in scripts:
        shutil.copyfile(HERE / name, folder / name)  # the project's folder may be private
    for path in [*folder.iterdir(), folder]:
        if uid is not None:  # root: the side's own uid may read, nobody else
            os.chown(path, uid, uid)
            os.chmod(path, 0o500 if path.is_dir() else 0o400)
    return str(folder)


def _seccomp_fd(tool: str) -> int | None:
    """A readable fd holding the filter program, for bwrap (None without one)."""
    program = seccomp_program() if tool == "bwrap" else None
    if program is None:
        return None
    read_fd, write_fd = os.pipe()
    os.write(write_fd, program)  # a few hundred bytes: within the pipe's buffer
    os.close(write_fd)
    return read_fd


def _run(
    program: str,
    test: str,
    entry_point: str | None,
    timeout_s: float,
    prelude: str,
    tool: str,
    slot: Slot | None,
    scratch_root: Path,
) -> TestResult:
    started_at = time.monotonic()
    candidate_uid, tests_uid = slot.uids if slot else (None, None)
    if slot:
        os.chmod(scratch_root, 0o711)  # each uid may pass through to its own folder only
    candidate_in = _inputs(
        scratch_root / "candidate", {"program.py": program}, CANDIDATE_FILES, candidate_uid
    )
    tests_in = _inputs(
        scratch_root / "tests", {"test.py": test, "prelude.py": prelude}, TESTS_FILES, tests_uid
    )
    etc = write_minimal_etc(scratch_root / "etc") if tool == "bwrap" else ""
    to_tests_r, to_tests_w = os.pipe()
    to_candidate_r, to_candidate_w = os.pipe()
    verdict_r, verdict_w = os.pipe()
    # One start-up pipe per side: its script writes a byte before anything else.
    started = [os.pipe(), os.pipe()]
    seccomp = [_seccomp_fd(tool), _seccomp_fd(tool)]
    # The slot's uids are this run's alone; without root, the harness's own uid
    # is shared, so the run gets what it runs already plus its share.
    processes = MAX_PROCESSES if slot else len(processes_of([os.getuid()])) + MAX_PROCESSES
    candidate_started, tests_started = started[0][1], started[1][1]
    sides = (
        (candidate_uid, CANDIDATE_FILES[0], candidate_in,
         (to_candidate_r, to_tests_w, candidate_started),
         [str(to_candidate_r), str(to_tests_w), str(candidate_started)]),
        (tests_uid, TESTS_FILES[0], tests_in,
         (to_tests_r, to_candidate_w, verdict_w, tests_started),
         [entry_point or "", str(to_tests_r), str(to_candidate_w), str(verdict_w),
          str(tests_started)]),
    )  # fmt: skip
    procs: list[_Process] = []
    timed_out = False
    try:
        try:
            # The tests' side starts first: a hostile candidate is not yet
            # running while it comes up (without root both share one uid's
            # process limit, and a fork bomb could otherwise starve its start).
            for (uid, script, inputs, fds, args), filter_fd in reversed(
                list(zip(sides, seccomp, strict=True))
            ):
                argv, cwd = _command(tool, script, inputs, etc, args, filter_fd)
                extra = (filter_fd,) if filter_fd is not None else ()
                preexec = partial(_limits, timeout_s, uid, processes)
                procs.insert(0, _Process(argv, cwd, fds + extra, preexec))
        finally:  # only the sandboxes hold these now
            for fd in (to_tests_r, to_tests_w, to_candidate_r, to_candidate_w, verdict_w):
                os.close(fd)
            for _, write_end in started:
                os.close(write_end)
            for fd in seccomp:
                if fd is not None:
                    os.close(fd)
        candidate, tests = procs
        timed_out = _watch(candidate, tests, timeout_s)
    finally:
        for proc in procs:
            proc.kill()
        outputs = [proc.finish() for proc in procs]
        with os.fdopen(verdict_r, "rb") as f:
            raw = f.read(8192)
        # Every process holding a write end is gone now: a read cannot block.
        came_up = [_read_closing(read_end) == b"S" for read_end, _ in started]
    return outcome(
        Ending(came_up, outputs, raw, timed_out, candidate.proc.returncode),
        time.monotonic() - started_at,
        tool,
    )


def _read_closing(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:
        return f.read(1)


def wait_within(
    process: _Process, roots: Sequence[int], timeout_s: float, stop=lambda: False
) -> bool:
    """Wait for `process` to end; True when the processes under `roots` went
    past the wall-clock or whole-tree CPU limit (the caller kills them).
    `stop()` true ends the wait early, as no timeout (a stdout flood)."""
    deadline = time.monotonic() + timeout_s * WALL_FACTOR + 1.0
    # Most runs end within a few polls: whole-tree CPU is read (a scan of /proc)
    # only after CPU_SCAN_AFTER_S, by when at most that times the cores was used.
    scan_from = time.monotonic() + CPU_SCAN_AFTER_S
    while True:
        try:
            process.proc.wait(timeout=POLL_S)
            return False
        except subprocess.TimeoutExpired:
            pass
        if stop():
            return False
        now = time.monotonic()
        if now > deadline or (now > scan_from and tree_cpu_seconds(roots) > timeout_s):
            return True


def _watch(candidate: _Process, tests: _Process, timeout_s: float) -> bool:
    """Wait for the tests' process to end; True when the run went past its
    wall-clock or whole-tree CPU limit (then both are killed)."""
    if wait_within(tests, [candidate.proc.pid, tests.proc.pid], timeout_s):
        return True
    # The tests are done; the candidate ends when its channel closes.
    with contextlib.suppress(subprocess.TimeoutExpired):
        candidate.proc.wait(timeout=1.0)
    return False


def run_tests(
    program: str,
    test: str,
    entry_point: str | None = None,
    timeout_s: float = 10.0,
    prelude: str = "",
) -> TestResult:
    """Run `test` against `program`, each in its own sandbox (see the module
    docstring). `prelude` is the task's own code that the tests may use (test
    imports; a HumanEval prompt's helpers); it runs on the trusted side. If the
    test defines check(), it is called with the entry point. `timeout_s` is CPU
    seconds over both process trees; wall-clock time gets WALL_FACTOR times that.
    Never raises: a failure of the sandbox itself is status "error"."""
    tool = isolation()
    started = time.monotonic()
    if entry_point and ("\0" in entry_point or not entry_point.isprintable()):
        # No verdict needs the sandbox: no program defines such a function.
        return TestResult(
            False, "error", 0.0, "", f"no function can be named {entry_point!r}", tool
        )
    slot = None
    scratch_root = None
    try:
        slot = acquire_slot() if _as_root() else None
        scratch_root = scratch_folder()
        return _run(program, test, entry_point, timeout_s, prelude, tool, slot, scratch_root)
    except Exception as exc:  # the sandbox itself failed: a status, never an exception
        seconds = time.monotonic() - started
        message = f"the sandbox could not run ({tool}): {exc!r}"
        return TestResult(False, SANDBOX_ERROR, seconds, "", message, tool)
    finally:
        if slot is not None:
            release_slot(slot)
        if scratch_root is not None:
            shutil.rmtree(scratch_root, ignore_errors=True)


# The control: a program that must pass and one that must fail, on the same test.
_CONTROL_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
_CONTROL_RIGHT = "def add(a, b):\n    return a + b\n"
_CONTROL_WRONG = "def add(a, b):\n    return a - b\n"
_control_lock = threading.Lock()
_control_passed: list[str] = []  # the isolation tools whose control passed in this process


def check_sandbox() -> None:
    """Raise SandboxError (one line) unless the sandbox passes a right program
    and fails a wrong one. Run before grading a batch; once it has passed, a
    process does not ask again (each run's own start-up signal still counts)."""
    with _control_lock:
        tool = isolation()
        if tool in _control_passed:
            return
        right = run_tests(_CONTROL_RIGHT, _CONTROL_TEST, "add", timeout_s=10.0)
        wrong = run_tests(_CONTROL_WRONG, _CONTROL_TEST, "add", timeout_s=10.0)
        for result, expected in ((right, "passed"), (wrong, "failed")):
            if result.status != expected:
                why = (
                    result.detail
                    if result.status == SANDBOX_ERROR
                    else (
                        f"a control program that must be {expected} came out {result.status}"
                        + (f" ({result.detail})" if result.detail else "")
                    )
                )
                raise SandboxError(f"the code sandbox does not work here: {why}")
        _control_passed.append(tool)


def run_many(
    jobs: Sequence[tuple],
    timeout_s: float = 10.0,
    workers: int | None = None,
    progress=None,
) -> list[TestResult]:
    """run_tests for many (program, test, entry_point[, prelude]) jobs, one per core at a time."""
    workers = workers or os.cpu_count() or 1

    def one(job: tuple) -> TestResult:
        result = run_tests(*job[:3], timeout_s=timeout_s, prelude=job[3] if len(job) > 3 else "")
        if progress:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))
