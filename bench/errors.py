"""The error every layer raises for a command line that cannot run as given.

The command line maps it, and every other known error, to one line and a
documented exit code (cli_errors.py); nothing below the CLI exits.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input on the command line (a missing argument, a folder that is no
    run); the message names what was wrong and what would be right."""
