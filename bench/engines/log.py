"""Engine logs out of the terminal: vLLM's and its servers' own output goes to
RUN/engine.log while the engine runs; the terminal keeps our progress bar and
our messages.

vLLM logs to stdout by default; VLLM_LOGGING_STREAM sends it to stderr, and
file descriptor 2 of this process (inherited by the engine's processes) is
pointed at the log. The progress bar writes to a copy of the original
stderr. `verbose=true` leaves everything on the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

LOG_NAME = "engine.log"


@contextlib.contextmanager
def engine_log(run_dir: Path, verbose: bool = False) -> Iterator[TextIO]:
    """Yield the stream progress bars should write to; meanwhile stderr (and
    vLLM's logging) goes to RUN/engine.log."""
    if verbose:
        yield sys.stderr
        return
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    sys.stderr.flush()
    log_fd = os.open(Path(run_dir) / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield terminal
    except Exception as exc:
        # The one-line error the CLI prints names the log (`log_hint`); a
        # traceback shows it as a note.
        exc.engine_log = str(Path(run_dir) / LOG_NAME)  # type: ignore[attr-defined]
        exc.add_note(f"the engine's own log: {exc.engine_log}")
        raise
    finally:
        _restore(saved)
        terminal.close()


def _restore(saved: int) -> None:
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    if saved >= 0:
        with contextlib.suppress(OSError):
            os.dup2(saved, 2)
            os.close(saved)


def log_hint(exc: BaseException) -> str:
    """An error's one line, with the engine log it happened beside, if any."""
    path = getattr(exc, "engine_log", None)
    return f"{exc} (engine log: {path})" if path else str(exc)
