"""How a config field enters a run's identity, said where the field is declared.

By default it does. `setting` marks a field that changes how a run executes
but not what it computes (where results go, progress bars, a server's URL);
`added` one added after runs were stored, at the value that computes what
those runs computed: left out of the identity at that value, so they resume.
bench/config/identity.py reads the metadata; tests/config/test_same_run.py fails on a
new field until it is classified.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from omegaconf import MISSING

IDENTITY_KEY = "identity"
NEUTRAL_KEY = "neutral"
NEUTRAL_INSIDE_KEY = "neutral_inside"  # a nested config's own added keys, here only


def setting(default: Any = MISSING, *, factory: Any = None) -> Any:
    """A field that does not decide results: never part of a run's identity."""
    metadata = {IDENTITY_KEY: False}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def added(default: Any, *, factory: Any = None) -> Any:
    """A field added after runs were stored; at its default it computes what
    they computed, so it enters the identity only when it differs."""
    metadata = {NEUTRAL_KEY: default if factory is None else factory()}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)
