"""Accuracy per configuration with bootstrap confidence intervals over problems.

The problem is the unit of resampling (Efron's percentile bootstrap): where a
problem has several samples, its per-problem accuracy is their mean, so
samples from one problem are never treated as independent evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ["model", "task", "strategy", "budget"]
SCALING_COLUMNS = [
    "model",
    "task",
    "strategy",
    "budget",
    "n",
    "accuracy",
    "ci_low",
    "ci_high",
    "mean_thinking_tokens",
    "mean_total_tokens",
    # How accuracy is read from the samples: "sample" (each on its own, k=1),
    # "maj" (majority vote of k), "bon" / "wbon" (verifier pick of k).
    "method",
    "k",
    # Thinking + answer tokens the k samples generated, per problem: the one
    # x-axis on which thinking longer and sampling more compare.
    "generated_tokens_per_problem",
]


def bootstrap_ci(
    per_problem: np.ndarray, *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `per_problem` scores."""
    values = np.asarray(per_problem, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    if values.size == 1 or np.all(values == values[0]):
        return (float(values[0]), float(values[0]))
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // values.size)  # bound memory for large problem sets
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return (float(low), float(high))


def scaling_table(
    records: pd.DataFrame, *, by: tuple[str, ...] = (), resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per model x task x strategy x budget (x `by`, e.g. difficulty), from graded records."""
    group_keys = [*GROUP[:2], *by, *GROUP[2:]]
    columns = [*SCALING_COLUMNS[:2], *by, *SCALING_COLUMNS[2:]]
    graded = records[records["correct"].notna()].copy()
    if graded.empty:
        return pd.DataFrame(columns=columns)
    graded["correct"] = graded["correct"].astype(bool).astype(float)
    graded["total_tokens"] = (
        graded["prompt_tokens"] + graded["thinking_tokens"] + graded["answer_tokens"]
    )
    rows = []
    for keys, group in graded.groupby(group_keys, sort=True):
        per_problem = group.groupby("problem_id")["correct"].mean().to_numpy()
        low, high = bootstrap_ci(per_problem, resamples=resamples, seed=seed)
        rows.append(
            dict(
                zip(group_keys, keys, strict=True),
                n=int(per_problem.size),
                accuracy=float(per_problem.mean()),
                ci_low=low,
                ci_high=high,
                mean_thinking_tokens=float(group["thinking_tokens"].mean()),
                mean_total_tokens=float(group["total_tokens"].mean()),
                method="sample",
                k=1,
                generated_tokens_per_problem=float(
                    (group["thinking_tokens"] + group["answer_tokens"]).mean()
                ),
            )
        )
    return pd.DataFrame(rows, columns=columns)
