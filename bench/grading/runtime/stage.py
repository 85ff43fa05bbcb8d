"""Grading beside generation: the engine never waits on a grader.

The sweep stores each batch of finished attempts as a generation part, hands
the part's path to this stage and goes back to the engine. The stage is a
process of its own (`python -m bench.grading.runtime.stage_process`, started like the
grading workers: no fork of an engine's threads), so grading holds neither
the engine loop's GIL nor its cores' time slices beyond what the checks
need. It reads each part back from disk, grades it with its own grading
pool and sandbox, stores the verdicts as a grade part and reports the count.

Only paths travel: however far grading falls behind, the attempts wait on
disk, not in memory. A crash loses nothing stored: parts not graded yet are
graded on resume, like any ungraded attempt. If the sweep dies, the stage
sees its pipe close and exits after the part in hand (whose verdicts are real
verdicts, so they are kept).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

from tqdm import tqdm

START_TIMEOUT_S = 120.0


class GradingStageError(RuntimeError):
    """The grading stage failed; what was generated is stored, ungraded."""


class GradingStage:
    def __init__(
        self,
        run_dir: Path,
        graders: dict[str, str],
        workers: int | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.settings = (str(run_dir), dict(graders), workers, timeout_s)
        self.proc: subprocess.Popen | None = None  # started with the first part
        self.conn: Any = None
        self.submitted = 0  # attempts handed over
        self.graded = 0  # attempts whose verdicts are stored
        self.busy_seconds = 0.0  # time the stage spent grading
        self.error: str | None = None
        self.sandbox_broken = False  # the error is the code sandbox's

    def _start(self) -> None:
        parent, child = Pipe()
        self.conn = parent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.grading.runtime.stage_process", str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal is the sweep's to handle
        )
        child.close()
        self.conn.send(self.settings)

    def idle(self) -> bool:
        """Started, and every part handed over is graded."""
        self._collect()
        return self.proc is not None and self.behind == 0

    @property
    def behind(self) -> int:
        return self.submitted - self.graded

    def _collect(self, wait_s: float = 0.0) -> None:
        """Read every report the stage has sent (waiting up to wait_s for one)."""
        while self.conn is not None and self.error is None and self.conn.poll(wait_s):
            try:
                kind, *rest = self.conn.recv()
            except (EOFError, OSError):
                self.error = f"the grading process exited (code {self.proc.poll()})"
                return
            if kind == "graded":
                self.graded += rest[0]
                self.busy_seconds += rest[1]
            elif kind in ("error", "sandbox_error"):
                self.error = rest[0]
                self.sandbox_broken = kind == "sandbox_error"
            wait_s = 0.0

    def raise_error(self) -> None:
        if self.error is not None and self.sandbox_broken:
            from bench.grading.sandbox.outcome import SandboxError

            raise SandboxError(
                f"{self.error}; what was generated is stored: fix the sandbox, then re-run "
                "the same command to grade it"
            )
        if self.error is not None:
            raise GradingStageError(
                f"grading failed: {self.error}; what was generated is stored: re-run the "
                "same command to grade it"
            )

    def submit(self, part: Path | None, count: int) -> None:
        """Grade this stored generation part; raises if the stage has failed."""
        self._collect()
        self.raise_error()
        if part is not None and count:
            if self.proc is None:
                self._start()
            self.submitted += count
            try:
                self.conn.send(("grade", str(part), count))
            except OSError:
                self.error = f"the grading process exited (code {self.proc.poll()})"
                self.raise_error()

    def progress(self) -> str:
        self._collect()
        return f"graded {self.graded}/{self.submitted}"

    def finish(self, terminal: Any = None, show: bool = True) -> None:
        """Wait for the last verdicts, with a progress bar while there are any."""
        self._collect()
        with tqdm(
            total=self.submitted,
            initial=self.graded,
            desc="grading",
            unit="attempt",
            disable=not show or self.behind == 0,
            file=terminal,
        ) as bar:
            while self.behind > 0 and self.error is None:
                self._collect(wait_s=0.5)
                if self.proc is not None and self.proc.poll() is not None:
                    self._collect()
                    if self.behind > 0 and self.error is None:
                        self.error = f"the grading process exited (code {self.proc.returncode})"
                bar.update(self.graded - bar.n)
        self.close()
        self.raise_error()

    def close(self, wait_s: float = 10.0) -> None:
        """Tell the stage to stop once idle and wait for it."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        try:
            self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.abort()
        self.conn.close()

    def abort(self) -> None:
        """Stop now (the sweep is stopping): the part in hand is left ungraded."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            self.conn.close()
