"""Two configurations on the same problems: is one better, and is it better
at the same cost?

Paired: both are scored on the problems they share, and the bootstrap
resamples problems (not attempts) for both at once, so problem difficulty
cancels out of the difference. At matched cost, each configuration's
accuracy-vs-cost curve (one point per budget) is interpolated on log cost at
the other's cost points (both ways: "cost" rows at A's points, "cost_b" rows
at B's); beyond a curve's dearest point it stays at the best it reached, and
below its cheapest it answers nothing (accuracy 0: it cannot run that
cheaply). The bootstrap redraws both curves from the same resampled problems.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd

from bench.analysis.metrics import CONFIG, label_key, with_verdict
from bench.run.columns import BUDGET, CORRECT, PROBLEM_ID, TASK


def _matrix(records: pd.DataFrame, value: str, problems: pd.Index, budgets: list) -> np.ndarray:
    """problems x budgets of the per-problem mean of `value`."""
    table = records.pivot_table(index=PROBLEM_ID, columns=BUDGET, values=value, aggfunc="mean")
    return table.reindex(index=problems, columns=budgets).to_numpy(dtype=float)


def _interp_log(x: np.ndarray, xs: np.ndarray, ys: np.ndarray, below: float = np.nan) -> np.ndarray:
    """A curve's accuracy at costs `x`: interpolated on log cost between its
    points; beyond its dearest point, the best it reached (it cannot spend
    more, and that is what the same money buys from it); below its cheapest,
    `below` (it cannot run that cheaply: NaN, or 0 for "no answers")."""
    keep = ~(np.isnan(xs) | np.isnan(ys))
    xs, ys = xs[keep], ys[keep]
    if xs.size == 0:
        return np.full(np.shape(x), np.nan)
    order = np.argsort(xs)
    xs, ys = np.log(np.maximum(xs[order], 1e-300)), ys[order]
    at = np.log(np.maximum(x, 1e-300))
    out = np.interp(at, xs, ys, left=below, right=np.nan)
    return np.where(np.isnan(at), np.nan, np.where(at > xs[-1], ys.max(), out))


def _interp_log_rows(
    x: np.ndarray, xs: np.ndarray, ys: np.ndarray, below: float = np.nan
) -> np.ndarray:
    """`_interp_log` on every row at once (a bootstrap's resamples): row r
    reads the curve (xs[r], ys[r]) at the costs x[r]. The same numbers as a
    loop over rows, without one."""
    if xs.shape[1] == 0:
        return np.full(np.shape(x), np.nan)
    xs = np.where(np.isnan(ys), np.nan, xs)
    order = np.argsort(xs, axis=1)  # NaN points last
    xs, ys = np.take_along_axis(xs, order, 1), np.take_along_axis(ys, order, 1)
    valid = ~np.isnan(xs)
    count = valid.sum(axis=1)[:, None]  # rows x 1
    lx = np.log(np.maximum(np.nan_to_num(xs, nan=np.inf), 1e-300))
    at = np.log(np.maximum(x, 1e-300))
    # How many of the row's points cost at most each query (rows x queries).
    pos = ((lx[:, None, :] <= at[:, :, None]) & valid[:, None, :]).sum(axis=2)
    last = np.maximum(count - 1, 0)
    lo = np.clip(pos - 1, 0, last)
    hi = np.clip(pos, 0, last)
    x0, x1 = np.take_along_axis(lx, lo, 1), np.take_along_axis(lx, hi, 1)
    y0, y1 = np.take_along_axis(ys, lo, 1), np.take_along_axis(ys, hi, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(x1 > x0, (at - x0) / (x1 - x0), 0.0)
    out = y0 + t * (y1 - y0)
    best = np.nanmax(np.where(valid, ys, -np.inf), axis=1)[:, None]
    end = np.take_along_axis(lx, last, 1)
    out = np.where(pos >= count, np.where(at > end, best, y0), out)
    out = np.where(pos == 0, below, out)
    return np.where((count == 0) | np.isnan(x), np.nan, out)


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
    graded = with_verdict(records).assign(correct=lambda r: r[CORRECT].astype(bool).astype(float))
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    configs = graded.groupby(CONFIG, sort=True)
    for (key_a, a), (key_b, b) in combinations(configs, 2):
        if key_a[1] != key_b[1]:  # different tasks are not paired
            continue
        problems = pd.Index(sorted(set(a[PROBLEM_ID]) & set(b[PROBLEM_ID])))
        budgets_a = sorted(a[BUDGET].unique())
        budgets_b = sorted(b[BUDGET].unique())
        if problems.empty:
            continue
        acc_a = _matrix(a, CORRECT, problems, budgets_a)
        acc_b = _matrix(b, CORRECT, problems, budgets_b)
        cost_a = _matrix(a, cost, problems, budgets_a) if cost in a else None
        cost_b = _matrix(b, cost, problems, budgets_b) if cost in b else None
        idx = rng.integers(0, len(problems), size=(resamples, len(problems)))
        label = {
            "a": " · ".join(map(str, (key_a[0], key_a[2]))),
            "b": " · ".join(map(str, (key_b[0], key_b[2]))),
            TASK: key_a[1],
            "problems": len(problems),
        }
        rows += _at_equal_budget(label, acc_a, acc_b, budgets_a, budgets_b, idx, alpha)
        if cost_a is not None and cost_b is not None:
            rows += _at_equal_cost(label, acc_a, acc_b, cost_a, cost_b, budgets_a, idx, alpha)
            # And at B's cost points: A's curve read there, B - A as everywhere.
            rows += [
                _swap(row)
                for row in _at_equal_cost(
                    label, acc_b, acc_a, cost_b, cost_a, budgets_b, idx, alpha
                )
            ]
    return pd.DataFrame(rows)


def _swap(row: dict) -> dict:
    """A row computed with A and B exchanged, written back as B - A at B's cost."""
    return {
        **row,
        "matched": "cost_b",
        "cost_a": np.nan,
        "cost_b": row["cost_a"],
        "accuracy_a": row["accuracy_b"],
        "accuracy_b": row["accuracy_a"],
        "difference": -row["difference"],
        "ci_low": -row["ci_high"],
        "ci_high": -row["ci_low"],
    }


def paired_by(records: pd.DataFrame, by: tuple[str, ...], **options) -> pd.DataFrame:
    """`paired_comparison` within each value of the `by` columns (e.g.
    difficulty), those columns first."""
    frames = []
    parts = {
        key if isinstance(key, tuple) else (key,): part
        for key, part in records.groupby(list(by), sort=False)
    }
    for key in sorted(parts, key=lambda values: tuple(map(label_key, values))):
        table = paired_comparison(parts[key], **options)
        if not table.empty:
            frames.append(table.assign(**dict(zip(by, key, strict=True))))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table[[*by, *(c for c in table.columns if c not in by)]]


def matched_cost_verdicts(paired: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per pair (and `by` value): does each side buy accuracy the other cannot
    match at the same cost? A wins at its own cost points when B, read at
    them, is significantly worse (CI of B - A below 0); B wins at its own
    points when the CI of B - A there lies above 0. The verdict names the
    side that wins at its own points, "both" (each does: typically one
    cheaper, the other more accurate at a higher cost) or "tie"."""
    if paired.empty:
        return pd.DataFrame()
    keys = [*by, TASK, "a", "b"]
    rows = []
    for key, group in paired.groupby(keys, sort=False):
        at_a = group[group["matched"] == "cost"]
        at_b = group[group["matched"] == "cost_b"]
        a_wins = bool((at_a["ci_high"] < 0).any())
        b_wins = bool((at_b["ci_low"] > 0).any())
        verdict = {(True, True): "both", (True, False): "a", (False, True): "b"}.get(
            (a_wins, b_wins), "tie"
        )
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "a_wins_at_its_cost": a_wins,
                "b_wins_at_its_cost": b_wins,
                "verdict": verdict,
            }
        )
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
                "matched": BUDGET,
                BUDGET: budget,
                "cost_a": np.nan,
                "cost_b": np.nan,
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
    A's, with a bootstrap CI that resamples both curves. Where B's cheapest
    point costs more than A's, B answers nothing at that money: accuracy 0."""
    rows = []
    point_a = np.nanmean(cost_a, axis=0)
    curve_b = _interp_log(point_a, np.nanmean(cost_b, axis=0), np.nanmean(acc_b, axis=0), 0.0)
    with warnings.catch_warnings():  # a resample without a budget's rows: NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        boot_a = np.nanmean(acc_a[idx], axis=1)  # resamples x budgets
        boot_b = _interp_log_rows(
            np.nanmean(cost_a[idx], axis=1),
            np.nanmean(cost_b[idx], axis=1),
            np.nanmean(acc_b[idx], axis=1),
            0.0,
        )
    for j, budget in enumerate(budgets_a):
        if np.isnan(curve_b[j]) or np.isnan(point_a[j]):
            continue  # B has no curve (or A no cost) to read
        spread = boot_b[:, j] - boot_a[:, j]
        low, high = np.nanquantile(spread, [alpha, 1 - alpha])
        rows.append(
            {
                **label,
                "matched": "cost",
                BUDGET: budget,
                "cost_a": float(point_a[j]),
                "cost_b": np.nan,
                "accuracy_a": float(np.nanmean(acc_a[:, j])),
                "accuracy_b": float(curve_b[j]),
                "difference": float(curve_b[j] - np.nanmean(acc_a[:, j])),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows
