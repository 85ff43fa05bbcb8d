"""Anytime profiles from stored records, with no judge model: how each chain's
verdict moves as its thinking budget grows.

A chain is one (model, task, strategy, problem, sample, repeat); its verdicts
at consecutive budgets come from the same generation cut at each budget, so
a flip is the model changing its mind with more thinking, not resampling.

- first stable budget: the smallest budget at which the chain is right and
  stays right at every larger budget (none if it is wrong at the largest);
- flips: wrong-to-right and right-to-wrong changes between consecutive budgets;
- overthinking threshold: the smallest budget past which right-to-wrong flips
  outnumber wrong-to-right ones, summed over every later step. Those sums
  telescope, so it is the smallest budget with more right chains than the
  largest budget has; infinite when there is none (no overthinking within
  the sweep). Its 95% interval resamples problems (percentile bootstrap).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bench.analysis.metrics import CONFIG, graded_records
from bench.run.columns import (
    BUDGET,
    CORRECT,
    DIFFICULTY,
    PROBLEM_ID,
    REPEAT,
    SAMPLE,
)

CHAIN = [*CONFIG, PROBLEM_ID, SAMPLE, REPEAT]
ALL = "all"  # the difficulty label of rows over every problem


def chain_matrix(records: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """Graded records as one row per chain and one 0/1 column per budget;
    chains missing a budget are left out (a partial run)."""
    wide = graded_records(records).pivot_table(
        index=[*CHAIN, DIFFICULTY], columns=BUDGET, values=CORRECT, aggfunc="max"
    )
    budgets = sorted(int(b) for b in wide.columns)
    wide = wide.dropna()[budgets].astype(int).reset_index()
    return wide, budgets


def anytime_profile(records: pd.DataFrame) -> pd.DataFrame:
    """One row per chain: first stable budget, flips each way, right at the largest budget."""
    wide, budgets = chain_matrix(records)
    columns = [*CHAIN, DIFFICULTY, "first_stable_budget", "wrong_to_right", "right_to_wrong"]
    if wide.empty or not budgets:
        return pd.DataFrame(columns=[*columns, "right_at_largest"])
    matrix = wide[budgets].to_numpy()
    steps = np.diff(matrix, axis=1)
    # Right from column j on: a suffix of ones. Its start is the first stable budget.
    stays = np.flip(np.cumprod(np.flip(matrix, axis=1), axis=1), axis=1)
    first = np.where(stays.any(axis=1), stays.argmax(axis=1), -1)
    out = wide[[*CHAIN, DIFFICULTY]].copy()
    out["first_stable_budget"] = [float(budgets[j]) if j >= 0 else np.nan for j in first]
    out["wrong_to_right"] = (steps > 0).sum(axis=1)
    out["right_to_wrong"] = (steps < 0).sum(axis=1)
    out["right_at_largest"] = matrix[:, -1].astype(bool)
    return out


def difficulty_key(label: str) -> tuple:
    """Levels in their natural order: 2 before 10, "Level 2" before "Level 10"."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", str(label))
        if part
    )


def _by_difficulty(wide: pd.DataFrame) -> list[tuple[tuple, str, pd.DataFrame]]:
    """Per configuration: every chain ("all"), then each difficulty level apart."""
    groups = []
    for config, chains in wide.groupby(CONFIG, sort=True):
        groups.append((config, ALL, chains))
        labels = sorted(set(chains[DIFFICULTY]) - {""}, key=difficulty_key)
        groups += [(config, label, chains[chains[DIFFICULTY] == label]) for label in labels]
    return groups


def first_stable_table(profile: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, over all chains and per difficulty level: how many
    chains end right for good, and at which budget they get there."""
    rows = []
    for config, label, chains in _by_difficulty(profile):
        stable = chains["first_stable_budget"].dropna()
        rows.append(
            dict(
                zip(CONFIG, config, strict=True),
                difficulty=label,
                chains=len(chains),
                stable_share=len(stable) / len(chains),
                median_first_stable=float(stable.median()) if len(stable) else np.nan,
                mean_first_stable=float(stable.mean()) if len(stable) else np.nan,
                flips_per_chain=float((chains["wrong_to_right"] + chains["right_to_wrong"]).mean()),
            )
        )
    columns = [*CONFIG, DIFFICULTY, "chains", "stable_share", "median_first_stable"]
    return pd.DataFrame(rows, columns=[*columns, "mean_first_stable", "flips_per_chain"])


def flips_table(records: pd.DataFrame) -> pd.DataFrame:
    """Wrong-to-right and right-to-wrong flips per consecutive budget pair,
    over all problems and per difficulty level."""
    wide, budgets = chain_matrix(records)
    rows = []
    for config, label, chains in _by_difficulty(wide):
        steps = np.diff(chains[budgets].to_numpy(), axis=1)
        for j in range(len(budgets) - 1):
            w2r, r2w = int((steps[:, j] > 0).sum()), int((steps[:, j] < 0).sum())
            rows.append(
                dict(
                    zip(CONFIG, config, strict=True),
                    difficulty=label,
                    from_budget=budgets[j],
                    to_budget=budgets[j + 1],
                    chains=len(chains),
                    wrong_to_right=w2r,
                    right_to_wrong=r2w,
                    net=w2r - r2w,
                )
            )
    columns = [*CONFIG, DIFFICULTY, "from_budget", "to_budget", "chains"]
    return pd.DataFrame(rows, columns=[*columns, "wrong_to_right", "right_to_wrong", "net"])


def threshold_index(right: np.ndarray) -> np.ndarray:
    """Per row of right-chain counts by budget: the first budget index with
    more right chains than the last budget; len-1 (none) where there is none."""
    right = np.atleast_2d(right)
    last = right.shape[1] - 1
    if last < 1:  # one budget: nothing to flip
        return np.zeros(right.shape[0], dtype=int)
    exceeds = right[:, :-1] > right[:, -1:]
    return np.where(exceeds.any(axis=1), exceeds.argmax(axis=1), last)


def overthinking(
    records: pd.DataFrame, *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """The overthinking threshold per configuration (and difficulty level),
    with a bootstrap interval over problems; inf means none within the sweep."""
    wide, budgets = chain_matrix(records)
    rows = []
    rng = np.random.default_rng(seed)
    edges = np.array([*map(float, budgets[:-1]), np.inf]) if budgets else np.array([])
    for config, label, chains in _by_difficulty(wide):
        # Right chains per problem and budget: problems are what is resampled.
        per_problem = chains.groupby(PROBLEM_ID)[budgets].sum().to_numpy()
        index = int(threshold_index(per_problem.sum(axis=0))[0])
        draws = rng.multinomial(
            len(per_problem), np.full(len(per_problem), 1 / len(per_problem)), size=resamples
        )
        boot = threshold_index(draws @ per_problem)
        alpha = (1 - level) / 2
        low, high = np.quantile(boot, [alpha, 1 - alpha], method="inverted_cdf")
        steps = np.diff(chains[budgets].to_numpy(), axis=1)
        rows.append(
            dict(
                zip(CONFIG, config, strict=True),
                difficulty=label,
                problems=len(per_problem),
                chains=len(chains),
                threshold_budget=edges[index],
                ci_low=edges[int(low)],
                ci_high=edges[int(high)],
                # Share of resamples that find a threshold inside the sweep.
                share_with_threshold=float((boot < len(budgets) - 1).mean()),
                wrong_to_right=int((steps > 0).sum()),
                right_to_wrong=int((steps < 0).sum()),
            )
        )
    columns = [*CONFIG, DIFFICULTY, "problems", "chains", "threshold_budget", "ci_low"]
    return pd.DataFrame(
        rows,
        columns=[
            *columns,
            "ci_high",
            "share_with_threshold",
            "wrong_to_right",
            "right_to_wrong",
        ],
    )
