"""Verifying against sampling more, on one compute axis: accuracy per method
(pass@k, the bound; maj@k; a verifier's pick bon@k; verifier-weighted votes
wbon@k) against the tokens a problem costs, the policy's and the verifier's.

Lightman et al. 2023 compare a process reward model's best-of-N with majority
voting at equal N; Snell et al. 2024 insist on equal compute. Here a maj@k
point costs k attempts of policy tokens; a bon@k or wbon@k point costs the
same plus every token the verifier read for those k attempts (self-certainty
reads none). Per difficulty too, since verification pays on long chains.
"""

from __future__ import annotations

import pandas as pd

from bench.analysis.cost import policy_generated, verifier_read
from bench.analysis.metrics import with_verdict
from bench.analysis.voting import voting_table
from bench.run.columns import BUDGET, MODEL, PROMPT_TOKENS, STRATEGY, TASK, VERIFIER, VERIFIER_SCORE

COLUMNS = [
    VERIFIER,
    "method",
    "k",
    "n",
    "accuracy",
    "ci_low",
    "ci_high",
    "policy_tokens_per_problem",
    "verifier_tokens_per_problem",
    "total_tokens_per_problem",
]


def verifiers_table(
    records: pd.DataFrame, by: tuple[str, ...] = (), draws: int = 1000
) -> pd.DataFrame:
    """One row per model x task x strategy x budget (x by) x method x k, with
    the tokens one problem costs at that point; empty without verifier scores."""
    if records.empty or VERIFIER_SCORE not in records or records[VERIFIER_SCORE].isna().all():
        return pd.DataFrame()
    graded = with_verdict(records)
    table = voting_table(graded, by=by, draws=draws)
    if table.empty:
        return table
    keys = [c for c in (MODEL, TASK, *by, STRATEGY, BUDGET) if c in graded]
    per_attempt = graded.assign(
        policy=graded[PROMPT_TOKENS] + policy_generated(graded),
        verifier_read=verifier_read(graded),
    )
    means = per_attempt.groupby(keys)[["policy", "verifier_read"]].mean().reset_index()
    table = table.merge(means, on=keys, how="left")
    uses_verifier = table["method"].isin(["bon", "wbon"])
    table["policy_tokens_per_problem"] = table["k"] * table["policy"]
    table["verifier_tokens_per_problem"] = (table["k"] * table["verifier_read"]).where(
        uses_verifier, 0.0
    )
    table["total_tokens_per_problem"] = (
        table["policy_tokens_per_problem"] + table["verifier_tokens_per_problem"]
    )
    name = graded[VERIFIER].dropna() if VERIFIER in graded else pd.Series(dtype=str)
    table[VERIFIER] = name.iloc[0] if not name.empty else "self_certainty"
    table[VERIFIER] = table[VERIFIER].where(uses_verifier, "-")
    return table[[*keys, *COLUMNS]]
