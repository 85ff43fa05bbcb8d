"""Two configurations on the same problems: is one better, and is it better
at the same cost?

Paired: both are scored on the problems they share, and the bootstrap
resamples problems (not attempts) for both at once, so problem difficulty
cancels out of the difference. At matched cost, each configuration's
accuracy-vs-cost curve (one point per budget) is interpolated on log cost at
the other's cost points; the bootstrap redraws both curves from the same
resampled problems.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

CONFIG = ["model", "task", "strategy"]


def _matrix(records: pd.DataFrame, value: str, problems: pd.Index, budgets: list) -> np.ndarray:
    """problems x budgets of the per-problem mean of `value`."""
    table = records.pivot_table(index="problem_id", columns="budget", values=value, aggfunc="mean")
    return table.reindex(index=problems, columns=budgets).to_numpy(dtype=float)


def _interp_log(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    order = np.argsort(xs)
    xs, ys = np.log(np.maximum(xs[order], 1e-300)), ys[order]
    out = np.interp(np.log(np.maximum(x, 1e-300)), xs, ys, left=np.nan, right=np.nan)
    return out


def paired_comparison(
    records: pd.DataFrame,
    cost: str = "usd",
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """For every pair of configurations on a task: accuracy difference (B - A)
    per common budget, and at A's cost points, each with a bootstrap CI over
    the problems both answered."""
    graded = records[records["correct"].notna()].assign(
        correct=lambda r: r["correct"].astype(bool).astype(float)
    )
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    configs = graded.groupby(CONFIG, sort=True)
    for (key_a, a), (key_b, b) in combinations(configs, 2):
        if key_a[1] != key_b[1]:  # different tasks are not paired
            continue
        problems = pd.Index(sorted(set(a["problem_id"]) & set(b["problem_id"])))
        budgets_a = sorted(a["budget"].unique())
        budgets_b = sorted(b["budget"].unique())
        if problems.empty:
            continue
        acc_a = _matrix(a, "correct", problems, budgets_a)
        acc_b = _matrix(b, "correct", problems, budgets_b)
        cost_a = _matrix(a, cost, problems, budgets_a) if cost in a else None
        cost_b = _matrix(b, cost, problems, budgets_b) if cost in b else None
        idx = rng.integers(0, len(problems), size=(resamples, len(problems)))
        label = {
            "a": " · ".join(map(str, (key_a[0], key_a[2]))),
            "b": " · ".join(map(str, (key_b[0], key_b[2]))),
            "task": key_a[1],
            "problems": len(problems),
        }
        rows += _at_equal_budget(label, acc_a, acc_b, budgets_a, budgets_b, idx, alpha)
        if cost_a is not None and cost_b is not None:
            rows += _at_equal_cost(label, acc_a, acc_b, cost_a, cost_b, budgets_a, idx, alpha)
    return pd.DataFrame(rows)


def _at_equal_budget(label, acc_a, acc_b, budgets_a, budgets_b, idx, alpha) -> list[dict]:
    """B - A at every budget both ran, with its bootstrap CI (resamples `idx`)."""
    rows = []
    for j, budget in enumerate(budgets_a):
        if budget not in budgets_b:
            continue
        k = budgets_b.index(budget)
        diff = acc_b[:, k] - acc_a[:, j]
        boot = np.nanmean(diff[idx], axis=1)
        low, high = np.nanquantile(boot, [alpha, 1 - alpha])
        rows.append(
            {
                **label,
                "matched": "budget",
                "budget": budget,
                "cost_a": np.nan,
                "accuracy_a": np.nanmean(acc_a[:, j]),
                "accuracy_b": np.nanmean(acc_b[:, k]),
                "difference": float(np.nanmean(diff)),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def _at_equal_cost(label, acc_a, acc_b, cost_a, cost_b, budgets_a, idx, alpha) -> list[dict]:
    """B's accuracy interpolated (log cost) at each of A's cost points, minus
    A's, with a bootstrap CI that resamples both curves."""
    rows = []
    point_a = np.nanmean(cost_a, axis=0)
    curve_b = _interp_log(point_a, np.nanmean(cost_b, axis=0), np.nanmean(acc_b, axis=0))
    boot_a = np.stack([np.nanmean(acc_a[i], axis=0) for i in idx])
    boot_cost_a = np.stack([np.nanmean(cost_a[i], axis=0) for i in idx])
    boot_b = np.stack(
        [
            _interp_log(boot_cost_a[r], np.nanmean(cost_b[i], axis=0), np.nanmean(acc_b[i], axis=0))
            for r, i in enumerate(idx)
        ]
    )
    for j, budget in enumerate(budgets_a):
        if np.isnan(curve_b[j]):
            continue  # A's cost lies outside B's range: no interpolation
        spread = boot_b[:, j] - boot_a[:, j]
        low, high = np.nanquantile(spread, [alpha, 1 - alpha])
        rows.append(
            {
                **label,
                "matched": "cost",
                "budget": budget,
                "cost_a": float(point_a[j]),
                "accuracy_a": float(np.nanmean(acc_a[:, j])),
                "accuracy_b": float(curve_b[j]),
                "difference": float(curve_b[j] - np.nanmean(acc_a[:, j])),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows
