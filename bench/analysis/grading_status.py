"""How each check ended, where the grader keeps a status (the code sandbox:
passed, failed, timeout, error, crashed; no_code when no program was found).

A run graded by a broken sandbox must not look like a run of bad programs:
the counts per budget show at a glance whether programs failed their tests
or never ran (every attempt `crashed`, or a status that is no verdict).
"""

from __future__ import annotations

import pandas as pd

from bench.analysis.metrics import GROUP
from bench.run.columns import STATUS

KEYS = GROUP
# The order columns appear in; any other status follows, alphabetically.
ORDER = ["passed", "failed", "timeout", "error", "crashed", "no_code"]


def status_counts(records: pd.DataFrame) -> pd.DataFrame:
    """One row per model x task x strategy x budget: attempts per status
    (only attempts whose grader kept one). Empty when none did."""
    if records.empty or STATUS not in records:
        return pd.DataFrame()
    kept = records[records[STATUS].notna()]
    if kept.empty:
        return pd.DataFrame()
    keys = [k for k in KEYS if k in kept]
    table = kept.groupby([*keys, STATUS]).size().unstack(STATUS, fill_value=0)
    others = sorted(set(table.columns) - set(ORDER))
    columns = [c for c in ORDER if c in table.columns] + others
    table = table[columns].astype(int)
    table.columns.name = None
    table["attempts"] = table.sum(axis=1)
    return table.reset_index()
