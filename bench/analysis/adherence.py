"""Budget adherence: did every attempt stay within its thinking budget?"""

from __future__ import annotations

from typing import Any

import pandas as pd


def adherence_summary(records: pd.DataFrame, budgets: list[int]) -> dict[str, Any]:
    if records.empty:
        return {"ok": True, "records": 0, "problems": []}
    over = records[records["thinking_tokens"] > records["budget"]]
    cut_wrong = records[records["hit_budget"] & (records["thinking_tokens"] != records["budget"])]
    problems = []
    if len(over):
        problems.append(f"{len(over)} record(s) think past their budget")
    if len(cut_wrong):
        problems.append(f"{len(cut_wrong)} cut record(s) do not stop exactly at their budget")
    shares = records["finish"].value_counts(normalize=True).round(4).to_dict()
    by_budget = records.groupby("budget")["hit_budget"].mean().round(4).rename(index=str).to_dict()
    return {
        "ok": not problems,
        "records": int(len(records)),
        "over_budget": int(len(over)),
        "finish_shares": shares,
        "cut_share_by_budget": by_budget,
        "problems": problems,
    }
