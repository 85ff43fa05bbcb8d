"""Run model-written code against its tests, as hostile code.

Each run gets a fresh temporary folder and its own process tree inside
Linux namespaces (bubblewrap): the system is visible read-only, the folder
(and a private /tmp) is the only writable place, it has its own pid
namespace (it cannot see or signal the harness), its own network namespace
(no route to the host, 127.0.0.1 included), and an empty environment (no
API keys). Run as root, it also drops to the `nobody` user, so the
process-count limit applies. rlimits cap CPU seconds, address space,
processes, file size and open files; stdout and stderr are read with a cap.

A run passes only on positive proof: sandbox_main.py writes a per-run random
token to a separate pipe after every assert ran; exiting 0 early is a
failure. A run past its wall-clock limit is killed with its whole process
tree (the namespace's init dies, and the kernel kills the rest).

Without bubblewrap it falls back to `unshare` (user, pid, net namespaces),
and without that to rlimits only, saying so loudly (`isolation()` reports
which; sweeps record it in the manifest).
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

RUNNER = Path(__file__).with_name("sandbox_main.py")
OUTPUT_CAP = 64 * 1024  # bytes of stdout / stderr kept per run
MEMORY_BYTES = 1 << 30  # address space per process
MAX_PROCESSES = 64
FILE_BYTES = 16 << 20
OPEN_FILES = 256
NOBODY = 65534
# Wall-clock allowance over the CPU limit: a run shares the cores with the
# other runs (one per core) and the harness, and sleeps cost no CPU.
WALL_FACTOR = 2.0


@dataclass(frozen=True)
class TestResult:
    passed: bool
    status: str  # passed | failed | timeout | error | crashed
    seconds: float
    stdout: str = ""
    stderr: str = ""
    isolation: str = ""


@cache
def isolation() -> str:
    """ "bwrap", "unshare" or "rlimits" (the strongest this machine offers)."""
    for tool, probe in (
        ("bwrap", ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]),
        ("unshare", ["unshare", "-Urnpf", "--mount-proc", "true"]),
    ):
        if shutil.which(tool):
            try:
                if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
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
    readable by the unprivileged user runs drop to."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def _command(workdir: Path, entry_point: str | None, tool: str, token_fd: int) -> list[str]:
    python = [sandbox_python(), "-I", "run.py", entry_point or "", str(token_fd)]
    if tool == "bwrap":
        return [
            "bwrap",
            "--ro-bind", "/", "/",
            "--tmpfs", "/tmp",
            "--bind", str(workdir), "/tmp/run",
            "--chdir", "/tmp/run",
            "--proc", "/proc",
            "--dev", "/dev",
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", "/tmp/run",
            *python,
        ]  # fmt: skip
    if tool == "unshare":
        return ["unshare", "-Urnpf", "--mount-proc", "--kill-child", "env", "-i", *python]
    return ["env", "-i", *python]


def _limits(cpu_seconds: float, drop_to_nobody: bool) -> None:
    """In the child before exec: rlimits, then (as root) become nobody.
    (No imports here: the parent may have threads holding the import lock.)"""
    cpu = max(1, int(cpu_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    if drop_to_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _drain(stream, keep: list[bytes]) -> None:
    """Read everything (so the child never blocks on a full pipe), keep the first OUTPUT_CAP."""
    kept = 0
    while chunk := stream.read(65536):
        if kept < OUTPUT_CAP:
            keep.append(chunk[: OUTPUT_CAP - kept])
            kept += len(keep[-1])
    stream.close()


def run_tests(
    program: str, test: str, entry_point: str | None = None, timeout_s: float = 10.0
) -> TestResult:
    """Run `program`, then `test` (calling check(entry point) if the test defines
    check, HumanEval style; plain asserts, MBPP style, just run), sandboxed.
    `timeout_s` is CPU seconds; wall-clock time gets WALL_FACTOR times that."""
    tool = isolation()
    root = os.geteuid() == 0
    token = secrets.token_hex(16)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="thinkbench-run-") as tmp:
        workdir = Path(tmp)
        (workdir / "program.py").write_text(program, encoding="utf-8")
        (workdir / "test.py").write_text(test, encoding="utf-8")
        shutil.copyfile(RUNNER, workdir / "run.py")  # the project's folder may be private
        if root:
            os.chown(workdir, NOBODY, NOBODY)
            for name in ("program.py", "test.py", "run.py"):
                os.chown(workdir / name, NOBODY, NOBODY)
        token_read, token_write = os.pipe()
        os.set_inheritable(token_write, True)
        try:
            proc = subprocess.Popen(
                _command(workdir, entry_point, tool, token_write),
                cwd=workdir,
                # bwrap itself (pid 1 inside, readable at /proc/1/environ) must
                # not carry the harness's environment either.
                env={"PATH": "/usr/bin:/bin"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(token_write,),
                start_new_session=True,
                preexec_fn=lambda: _limits(timeout_s, root),
            )
        except OSError as exc:
            os.close(token_read)
            os.close(token_write)
            return TestResult(False, "error", 0.0, "", f"could not start: {exc}", tool)
        os.close(token_write)
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            proc.stdin.write(token.encode() + b"\n")
            proc.stdin.close()
        except OSError:
            pass
        timed_out = False
        try:
            proc.wait(timeout=timeout_s * WALL_FACTOR + 1.0)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait()
        with os.fdopen(token_read, "rb") as f:
            proof = f.read(256).decode(errors="replace").strip()
        for reader in readers:
            reader.join(timeout=5)
    seconds = time.monotonic() - started
    stdout = b"".join(out).decode(errors="replace")
    stderr = b"".join(err).decode(errors="replace")
    code = proc.returncode
    if timed_out or code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        status = "timeout"
    elif code == 0 and proof == token:
        status = "passed"
    elif code in (0, 3):
        status = "failed"  # an assert failed, or it exited 0 before the tests finished
    elif code == 4:
        status = "error"
    else:
        status = "crashed"  # killed by a signal (memory, file size) or a sandbox failure
    return TestResult(status == "passed", status, seconds, stdout, stderr, tool)


def run_many(
    jobs: Sequence[tuple[str, str, str | None]],
    timeout_s: float = 10.0,
    workers: int | None = None,
    progress=None,
) -> list[TestResult]:
    """run_tests for many (program, test, entry_point) jobs, one per core at a time."""
    workers = workers or os.cpu_count() or 1

    def one(job: tuple[str, str, str | None]) -> TestResult:
        result = run_tests(*job, timeout_s=timeout_s)
        if progress:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))
