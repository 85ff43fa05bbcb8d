"""Budget adherence and token truth, checked after every sweep.

Every attempt must stay within its thinking budget, a cut must stop exactly
at it, and our token accounting must equal the engine's own count.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.run.columns import (
    ANSWER_TOKENS,
    BUDGET,
    DISCARDED_TOKENS,
    ENGINE_TOKENS,
    FINISH,
    HIT_BUDGET,
    PROMPT_TOKENS,
    THINKING_TOKENS,
)


def adherence_summary(
    records: pd.DataFrame, budgets: list[int], exact_cuts: bool = True
) -> dict[str, Any]:
    """`exact_cuts`: a cut must stop exactly at its budget (not so for a chat
    API, where the server decides where thinking stops)."""
    if records.empty:
        return {"ok": True, "records": 0, "problems": []}
    over = records[records[THINKING_TOKENS] > records[BUDGET]]
    cut_wrong = records[records[HIT_BUDGET] & (records[THINKING_TOKENS] != records[BUDGET])]
    if not exact_cuts:
        cut_wrong = cut_wrong.iloc[0:0]
    if ENGINE_TOKENS in records:
        counted = records[records[ENGINE_TOKENS].notna()]
        ours = counted[PROMPT_TOKENS] + counted[THINKING_TOKENS] + counted[ANSWER_TOKENS]
        if DISCARDED_TOKENS in counted:  # decoded past the answer's end (strategy=native)
            ours = ours + counted[DISCARDED_TOKENS].fillna(0)
        mismatched = counted[ours != counted[ENGINE_TOKENS]]
    else:  # runs stored before engine counts were recorded
        counted = mismatched = records.iloc[0:0]
    problems = []
    if len(mismatched):
        problems.append(f"{len(mismatched)} record(s) count tokens differently from the engine")
    if len(over):
        problems.append(f"{len(over)} record(s) think past their budget")
    if len(cut_wrong):
        problems.append(f"{len(cut_wrong)} cut record(s) do not stop exactly at their budget")
    shares = records[FINISH].value_counts(normalize=True).round(4).to_dict()
    by_budget = records.groupby(BUDGET)[HIT_BUDGET].mean().round(4).rename(index=str).to_dict()
    return {
        "ok": not problems,
        "records": int(len(records)),
        "over_budget": int(len(over)),
        "token_count_checked": int(len(counted)),
        "token_count_mismatches": int(len(mismatched)),
        "finish_shares": shares,
        "cut_share_by_budget": by_budget,
        "problems": problems,
    }
