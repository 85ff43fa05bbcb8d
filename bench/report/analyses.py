"""The report's analyses beyond the accuracy curve and costs: what the field
asks of a thinking-budget evaluation, each from stored records alone.

Anytime profiles and overthinking (analysis/anytime.py), cut vs finished
chains and truncation policies (analysis/truncation.py), seed variance
(analysis/seeds.py), compute-optimal settings per difficulty
(analysis/compute_optimal.py), budget 0 vs the non-thinking mode
(analysis/modes.py), the published-figure check (analysis/published.py), verifying vs
sampling more (analysis/verifiers.py) and how code checks ended
(analysis/grading_status.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.anytime import (
    anytime_profile,
    first_stable_table,
    flips_table,
    overthinking,
)
from bench.analysis.compute_optimal import compute_optimal, compute_optimal_strategies
from bench.analysis.grading_status import status_counts
from bench.analysis.modes import non_thinking_agreement
from bench.analysis.published import published_check
from bench.analysis.seeds import seed_variance
from bench.analysis.strategies import is_search, matched_compute, strategies_table
from bench.analysis.truncation import cut_vs_finished, truncation_policies
from bench.analysis.verifiers import verifiers_table
from bench.report import plots
from bench.run.store import write_atomic

Table = tuple[str, str, pd.DataFrame]
Figure = tuple[str, str, Callable[[Path], Any]]
PROFILE_CSV = "anytime_profile.csv"  # one row per chain: too long for the page


def analysis_tables(
    records: pd.DataFrame, scaling: pd.DataFrame, published: dict[str, Any], out: Path
) -> tuple[list[Table], list[Figure], list[str]]:
    """(tables, figures, extra files written) for the report in `out`."""
    tables: list[Table] = []
    figures: list[Figure] = []
    profile = anytime_profile(records)
    write_atomic(lambda t: profile.to_csv(t, index=False, float_format="%.6g"), out / PROFILE_CSV)
    flips = flips_table(records)
    over = overthinking(records)
    tables += [
        (
            "first_stable",
            "Anytime profile: the first budget at which a chain is right and stays right",
            first_stable_table(profile),
        ),
        ("flips", "Answer flips between consecutive budgets, by difficulty", flips),
        (
            "overthinking",
            "Overthinking threshold: the budget past which right-to-wrong flips outnumber "
            "wrong-to-right ones (inf: none in the sweep; 95% bootstrap CI over problems)",
            over,
        ),
        (
            "cut_vs_finished",
            "Chains cut by the budget vs ended on their own",
            cut_vs_finished(records),
        ),
        (
            "truncation",
            "Cut chains scored three ways: forced answer, empty (wrong), last answer in the thinking",
            truncation_policies(records),
        ),
        (
            "seed_variance",
            "pass@1 over repeats (seeds), its spread across seeds, 95% bootstrap CI over problems",
            seed_variance(records),
        ),
        (
            "compute_optimal",
            "Compute-optimal (budget, k) per difficulty vs the best single setting, "
            "held-out halves",
            compute_optimal(records),
        ),
    ]
    _verifier_tables(records, tables, figures)
    _strategy_tables(records, tables, figures)
    _status_table(records, tables)
    agreement = non_thinking_agreement(records)
    if not agreement.empty:
        tables.append(
            ("non_thinking", "Budget 0 vs the non-thinking mode on the same problems", agreement)
        )
    if published:
        tables.append(
            (
                "published",
                "Published figures: is the run inside their 95% binomial interval?",
                published_check(scaling, published),
            )
        )
    if not flips.empty:
        figures.append(
            (
                "answer_flips.png",
                "Answer flips between budgets, overthinking threshold dashed",
                lambda p: plots.flips(flips, over, p),
            )
        )
    return tables, figures, [PROFILE_CSV]


def _verifier_tables(records: pd.DataFrame, tables: list[Table], figures: list[Figure]) -> None:
    """Verifying vs sampling more, where a verifier scored the attempts."""
    checked = verifiers_table(records)
    if not checked.empty:
        tables.append(
            (
                "verifiers",
                "Verifying vs sampling more: accuracy and tokens per problem (policy + "
                "verifier) for pass@k (the bound), maj@k, bon@k and wbon@k",
                checked,
            )
        )
        if "difficulty" in records and records["difficulty"].fillna("").ne("").any():
            tables.append(
                (
                    "verifiers_by_difficulty",
                    "Verifying vs sampling more, per difficulty",
                    verifiers_table(records, by=("difficulty",)),
                )
            )
        figures.append(
            (
                "verifiers.png",
                "Accuracy vs tokens per problem (policy + verifier), by method",
                lambda p: plots.verifiers(checked, p),
            )
        )


def _strategy_tables(records: pd.DataFrame, tables: list[Table], figures: list[Figure]) -> None:
    """Every strategy on one axis, where the records hold several or a search."""
    several = records["strategy"].nunique() > 1 if "strategy" in records else False
    if not (several or is_search(records).any()):
        return
    compared = strategies_table(records)
    if compared.empty:
        return
    tables.append(
        (
            "strategies",
            "Thinking longer, sampling more, verifying and searching: accuracy and total "
            "tokens per problem (policy + verifier), every strategy's answer",
            compared,
        )
    )
    tables.append(
        (
            "matched_compute",
            "The dials at equal compute: the best accuracy each reaches within a total of "
            "so many tokens per problem (policy + verifier); empty: nothing that cheap",
            matched_compute(compared),
        )
    )
    if "difficulty" in records and records["difficulty"].fillna("").ne("").any():
        tables.append(
            (
                "strategies_by_difficulty",
                "Every strategy on one axis, per difficulty",
                strategies_table(records, by=("difficulty",)),
            )
        )
    chosen = compute_optimal_strategies(records)
    if not chosen.empty:
        tables.append(
            (
                "compute_optimal_strategies",
                "Compute-optimal choice among strategies: a (strategy, budget, k) per "
                "difficulty vs the best single one, held-out halves",
                chosen,
            )
        )
    figures.append(
        (
            "strategies.png",
            "Accuracy vs total tokens per problem (policy + verifier), every strategy",
            lambda p: plots.strategies(compared, p),
        )
    )


def _status_table(records: pd.DataFrame, tables: list[Table]) -> None:
    """How code checks ended, where a grader kept statuses."""
    statuses = status_counts(records)
    if not statuses.empty:
        tables.append(
            (
                "grading_status",
                "How each code check ended in the sandbox, per budget (attempts per status)",
                statuses,
            )
        )
