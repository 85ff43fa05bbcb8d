"""Exit codes of `bench`, and the one place known errors become them.

0 done; 2 bad input (config, arguments, data: one line says what); 3 budget
adherence failed; 4 disk full (what was stored is intact); 5 served requests
still failing; 6 the run folder is being written by another process; 7 a
damaged file in a run folder (bench repair); 8 the code sandbox does not
work here (no code verdict was stored); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM). Both of the last store what finished first.
"""

from __future__ import annotations

import sys

EXIT_BAD_INPUT, EXIT_ADHERENCE, EXIT_DISK_FULL, EXIT_REQUESTS = 2, 3, 4, 5
EXIT_LOCKED, EXIT_DAMAGED, EXIT_SANDBOX = 6, 7, 8
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print one error line; return its exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def exit_code(exc: BaseException) -> int | None:
    """Print a known error's line and return its exit code; None for an error
    nobody planned for (the caller re-raises it: a traceback is a bug report)."""
    # Imported here: `bench --help` should not pay for the engines and pandas.
    from bench.analysis.cost import PricingError
    from bench.config.schema import ConfigError
    from bench.engines.http import ServerRejected
    from bench.engines.log import log_hint
    from bench.engines.models import ModelSourceError
    from bench.errors import AdherenceError, RequestsFailedError, Terminated, UsageError
    from bench.grading.sandbox.outcome import SandboxError
    from bench.run.lock import RunLockedError
    from bench.run.store import DamagedRunError, DiskFullError
    from bench.tasks.loader import TaskError

    if isinstance(exc, Terminated):
        return EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    if isinstance(exc, UsageError | ConfigError | TaskError | ModelSourceError | PricingError):
        return fail(str(exc), EXIT_BAD_INPUT)
    if isinstance(exc, AdherenceError):
        return fail(log_hint(exc), EXIT_ADHERENCE)
    if isinstance(exc, DiskFullError):
        return fail(exc.strerror or str(exc), EXIT_DISK_FULL)
    if isinstance(exc, RequestsFailedError | ServerRejected):
        return fail(log_hint(exc), EXIT_REQUESTS)
    if isinstance(exc, RunLockedError):
        return fail(str(exc), EXIT_LOCKED)
    if isinstance(exc, DamagedRunError):
        return fail(str(exc), EXIT_DAMAGED)
    if isinstance(exc, SandboxError):
        return fail(str(exc), EXIT_SANDBOX)
    return None
