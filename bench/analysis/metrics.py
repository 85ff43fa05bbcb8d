"""Accuracy per configuration with bootstrap confidence intervals over problems.

The problem is the unit of resampling (Efron's percentile bootstrap): where a
problem has several samples, its per-problem accuracy is their mean, so
samples from one problem are never treated as independent evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.run.columns import (
    ANSWER_TOKENS,
    BUDGET,
    CORRECT,
    DIFFICULTY,
    MODEL,
    PROBLEM_ID,
    PROMPT_TOKENS,
    REPEAT,
    STRATEGY,
    TASK,
    THINKING_TOKENS,
)

# One configuration of a run, and one point of its curve (the budget added):
# every table groups records by these.
CONFIG = [MODEL, TASK, STRATEGY]
GROUP = [*CONFIG, BUDGET]
# Per-problem scores are accuracies: 0/1, or k+1 levels for k samples. Up to
# this many distinct values the bootstrap draws counts instead of indices.
MULTINOMIAL_MAX_VALUES = 256
SCALING_COLUMNS = [
    MODEL,
    TASK,
    STRATEGY,
    BUDGET,
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


def with_verdict(records: pd.DataFrame) -> pd.DataFrame:
    """The records that have a verdict, as they are (no rows where the records
    carry no verdict column at all): every table reads graded records through
    this filter or through graded_records."""
    if CORRECT not in records:
        return records.iloc[:0]
    return records[records[CORRECT].notna()]


def graded_records(records: pd.DataFrame) -> pd.DataFrame:
    """The records with a verdict, `correct` as 0.0 / 1.0, and the columns
    runs stored before them lacked filled in (repeat 0, no difficulty)."""
    graded = with_verdict(records).copy()
    graded[CORRECT] = graded[CORRECT].astype(bool).astype(float)
    graded[REPEAT] = graded[REPEAT].fillna(0).astype(int) if REPEAT in graded else 0
    if DIFFICULTY not in graded:
        graded[DIFFICULTY] = ""
    graded[DIFFICULTY] = graded[DIFFICULTY].fillna("").astype(str)
    return graded


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
    uniques, counts = np.unique(values, return_counts=True)
    if uniques.size <= MULTINOMIAL_MAX_VALUES:
        # Resampling n problems with replacement only matters through how many
        # times each distinct score is drawn: a multinomial draw gives the same
        # distribution of means at a cost independent of n.
        draws = rng.multinomial(values.size, counts / values.size, size=resamples)
        means = draws @ uniques / values.size
    else:
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
    graded = with_verdict(records).copy()
    if graded.empty:
        return pd.DataFrame(columns=columns)
    graded[CORRECT] = graded[CORRECT].astype(bool).astype(float)
    graded["total_tokens"] = graded[PROMPT_TOKENS] + graded[THINKING_TOKENS] + graded[ANSWER_TOKENS]
    graded["generated_tokens"] = graded[THINKING_TOKENS] + graded[ANSWER_TOKENS]
    # Two grouped passes over all records (not one per configuration): per
    # configuration means, and per configuration x problem accuracy.
    grouped = graded.groupby(group_keys, sort=True)
    means = grouped[[THINKING_TOKENS, "total_tokens", "generated_tokens"]].mean()
    graded["config"] = grouped.ngroup()  # integer ids in the order of `means`
    per_problem = graded.groupby(["config", PROBLEM_ID], sort=True)[CORRECT].mean()
    config_ids = per_problem.index.get_level_values("config").to_numpy()
    scores = per_problem.to_numpy()
    starts = np.flatnonzero(np.r_[True, config_ids[1:] != config_ids[:-1]])
    rows = []
    for begin, stop in zip(starts, np.r_[starts[1:], len(scores)], strict=True):
        keys = means.index[config_ids[begin]]
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = scores[begin:stop]
        low, high = bootstrap_ci(values, resamples=resamples, seed=seed)
        mean = means.iloc[config_ids[begin]]
        rows.append(
            dict(
                zip(group_keys, keys, strict=True),
                n=int(values.size),
                accuracy=float(values.mean()),
                ci_low=low,
                ci_high=high,
                mean_thinking_tokens=float(mean[THINKING_TOKENS]),
                mean_total_tokens=float(mean["total_tokens"]),
                method="sample",
                k=1,
                generated_tokens_per_problem=float(mean["generated_tokens"]),
            )
        )
    return pd.DataFrame(rows, columns=columns)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): the chance that at least one of k
    samples drawn from n, of which c are correct, is correct. Computed as a
    product, not with binomials, so it stays exact for large n."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"k={k} is more than the n={n} samples")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def label_key(label: object) -> tuple:
    """Sort key for difficulty labels: numbers in numeric order ("2" before
    "10"), then the other labels in text order."""
    try:
        return (0, float(str(label)), "")
    except ValueError:
        return (1, 0.0, str(label))
