"""Every strategy on one compute axis: thinking longer (single, wait, native:
one point per budget), sampling more (sc: maj@k), verifying (bon: bon@k,
wbon@k) and searching (beam, dvts: the search's pick and its weighted vote),
each as accuracy against the tokens one problem costs, the policy's and the
verifier's together (Snell et al. 2024 compare strategies at equal compute).

A search's attempts share everything the search generated and read
(`search_tokens`, `search_verifier_tokens`), so its point is at k = every
attempt it kept: the whole search's cost, and its answer. k-subsets of a
search's kept paths are no search of their own and get no row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.cost import policy_generated, verifier_read
from bench.analysis.metrics import CONFIG, bootstrap_ci, with_verdict
from bench.analysis.verifiers import verifiers_table
from bench.analysis.voting import voting_table
from bench.run.columns import (
    BUDGET,
    CORRECT,
    MODEL,
    PROBLEM_ID,
    PROMPT_TOKENS,
    SEARCH_TOKENS,
    STRATEGY,
    TASK,
    VERIFIER_SCORE,
)

COLUMNS = ["method", "k", "n", "accuracy", "ci_low", "ci_high", "total_tokens_per_problem"]
VOTES = ("maj", "bon", "wbon")  # pass@k is the bound, not a strategy's answer


def is_search(records: pd.DataFrame) -> pd.Series:
    """Which records a search made (they carry its shared token counts)."""
    if SEARCH_TOKENS not in records:
        return pd.Series(False, index=records.index)
    return records[SEARCH_TOKENS].fillna(0) > 0


def strategies_table(records: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per model x task (x by) x strategy x budget x method x k."""
    graded = with_verdict(records)
    if graded.empty:
        return pd.DataFrame()
    keys = [c for c in (MODEL, TASK, *by, STRATEGY, BUDGET) if c in graded]
    graded = graded.assign(
        _cost=graded[PROMPT_TOKENS] + policy_generated(graded) + verifier_read(graded)
    )
    pieces = []
    for _, group in graded.groupby(CONFIG, sort=True):
        several = group.groupby([*keys, PROBLEM_ID]).size().min() > 1
        if several:
            pieces.append(_voted(group, by, search=bool(is_search(group).any())))
        else:
            pieces.append(_single(group, keys))
    pieces = [p for p in pieces if not p.empty]
    if not pieces:
        return pd.DataFrame()
    return pd.concat(pieces, ignore_index=True)[[*keys, *COLUMNS]]


def _single(group: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One chain per problem: accuracy and cost per budget."""
    rows = []
    for values, rows_of in group.groupby(keys, sort=True):
        per_problem = rows_of.groupby(PROBLEM_ID)
        correct = per_problem[CORRECT].mean().astype(float).to_numpy()
        low, high = bootstrap_ci(correct)
        rows.append(
            dict(
                zip(keys, values, strict=True),
                method="pass",
                k=1,
                n=len(correct),
                accuracy=float(correct.mean()),
                ci_low=low,
                ci_high=high,
                total_tokens_per_problem=float(per_problem["_cost"].mean().mean()),
            )
        )
    return pd.DataFrame(rows)


def _voted(group: pd.DataFrame, by: tuple[str, ...], search: bool) -> pd.DataFrame:
    """Several attempts per problem: votes and verifier picks over k of them
    (a search: at k = all it kept)."""
    scored = VERIFIER_SCORE in group and group[VERIFIER_SCORE].notna().all()
    if scored:
        table = verifiers_table(group, by=by)
        table = table[table["method"].isin(VOTES)]
    else:
        table = voting_table(group, by=by)
        table = table[table["method"].isin(VOTES)].copy()
        if table.empty:
            return table
        keys = [c for c in (MODEL, TASK, *by, STRATEGY, BUDGET) if c in table]
        per_attempt = group.groupby(keys)["_cost"].mean().rename("_per_attempt").reset_index()
        table = table.merge(per_attempt, on=keys, how="left")
        table["total_tokens_per_problem"] = table["k"] * table.pop("_per_attempt")
    if table.empty:
        return table
    if search:
        # The search's pick and weighted vote over all it kept (a majority
        # would not count the verifier it searched with).
        keys = [c for c in (MODEL, TASK, *by, STRATEGY, BUDGET) if c in table]
        table = table[table["method"].isin(("bon", "wbon"))]
        table = table[table["k"] == table.groupby(keys)["k"].transform("max")]
    return table


# Which dial of test-time compute a strategies_table row turns.
DIALS = ("think longer", "sample more", "verify", "search")


def dial(strategy: str, method: str, k: int) -> str:
    if strategy in ("beam", "dvts"):
        return "search"
    if k == 1 or method == "pass":  # one chain per problem: only its budget moved
        return "think longer"
    return "sample more" if method == "maj" else "verify"


def matched_compute(compared: pd.DataFrame, columns: int = 8) -> pd.DataFrame:
    """The dials side by side at equal compute: per model x task x dial, the
    best accuracy any of its points reaches within each total-token level
    (policy + verifier tokens per problem; levels a power of 2 apart, or 4
    where the range is wide). Empty where a dial has no point that cheap."""
    if compared.empty:
        return pd.DataFrame()
    points = compared.assign(
        dial=[
            dial(str(s), str(m), int(k))
            for s, m, k in zip(compared[STRATEGY], compared["method"], compared["k"], strict=True)
        ]
    )
    cost = points["total_tokens_per_problem"].astype(float)
    low = max(1, int(np.ceil(np.log2(max(cost.min(), 1.0)))))
    high = max(low, int(np.ceil(np.log2(max(cost.max(), 1.0)))))
    step = max(1, int(np.ceil((high - low + 1) / columns)))
    # From the cheapest point up, so it has a level; the last reaches the dearest.
    levels = [2 ** (low + i * step) for i in range(-(-(high - low) // step) + 1)]
    rows = []
    for (model, task, name), group in points.groupby([MODEL, TASK, "dial"], sort=False):
        row: dict = {MODEL: model, TASK: task, "dial": name}
        for level in levels:
            within = group[group["total_tokens_per_problem"] <= level]
            row[f"<={level}"] = float(within["accuracy"].max()) if len(within) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(DIALS)}
    return table.sort_values(
        [MODEL, TASK, "dial"], key=lambda c: c.map(order) if c.name == "dial" else c
    ).reset_index(drop=True)
