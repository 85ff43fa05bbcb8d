"""Errors raised across layers: bad command-line input, and the ways a sweep
ends short of done. The command line maps them, and every other known error,
to one line and a documented exit code (cli_errors.py); nothing below the CLI
exits.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input on the command line (a missing argument, a folder that is no
    run); the message names what was wrong and what would be right."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, docker stop, SLURM), handled like Ctrl-C: what finished is stored."""


class AdherenceError(RuntimeError):
    """A stored record claims more thinking than its budget allowed."""


class RequestsFailedError(RuntimeError):
    """Served-engine requests still failed after their retries; what finished is stored."""
