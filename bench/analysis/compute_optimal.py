"""Compute-optimal settings per difficulty (Snell et al. 2024, "Scaling LLM
test-time compute optimally"): from one sweep over budgets and samples, the
(budget, k) each difficulty level should get for a given token spend.

A setting is a thinking budget and k samples voted by majority (k=1: one
sample). Per problem it has an accuracy (the expectation over k-subsets of
its samples, analysis/voting.py) and a cost (k x the tokens its samples
generated). For a spend S (generated tokens per problem, on average over
all problems), the policy gives each difficulty level a setting so that the
total accuracy is highest and the mean cost at most S: easy levels may spend
less so that hard ones spend more (a multiple-choice knapsack, solved by its
Lagrangian: each level maximises accuracy - lambda x cost, lambda the
smallest that keeps within S). The baseline is the one setting, for every
problem, that is most accurate within S. Both are fitted on one half of the problems
and scored on the other, over random half-splits, like `bench route`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from bench.analysis.anytime import difficulty_key
from bench.analysis.cost import policy_generated, verifier_read
from bench.analysis.metrics import CONFIG, with_verdict
from bench.analysis.strategies import is_search
from bench.analysis.voting import ks_for, subset_accuracy
from bench.run.columns import (
    BUDGET,
    CORRECT,
    DIFFICULTY,
    MODEL,
    PROBLEM_ID,
    REPEAT,
    SAMPLE,
    STRATEGY,
    TASK,
    VERIFIER_SCORE,
    VOTE_CLASS,
)


def settings_matrix(
    group: pd.DataFrame, draws: int = 200, seed: int = 0
) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(settings, problems, accuracy, cost, difficulty) of one configuration:
    accuracy and cost are problems x settings. A setting is a budget and k
    samples voted by majority, its cost the tokens the policy generated for
    them (analysis/cost.py); a search (beam, dvts) has one setting per
    budget, its pick among all it kept (the best verifier score), at the
    whole search's cost, the policy's and its verifier's tokens."""
    rng = np.random.default_rng(seed)
    problems = np.array(sorted(group[PROBLEM_ID].unique()))
    budgets = sorted(int(b) for b in group[BUDGET].unique())
    samples = int(group.groupby([PROBLEM_ID, BUDGET]).size().min())
    searched = bool(is_search(group).any())
    ks = [samples] if searched else ks_for(samples)
    settings = [(b, k) for b in budgets for k in ks]
    accuracy = np.full((len(problems), len(settings)), np.nan)
    cost = np.full_like(accuracy, np.nan)
    index = {p: i for i, p in enumerate(problems)}
    order = [c for c in (REPEAT, SAMPLE) if c in group]
    # A vote needs no verifier; a search read one all along.
    verified = verifier_read(group) if searched else 0
    group = group.assign(_tokens=policy_generated(group) + verified)
    for (problem, budget), rows in group.groupby([PROBLEM_ID, BUDGET], sort=True):
        rows = rows.sort_values(order).head(samples)
        ok = rows[CORRECT].astype(bool).to_numpy()
        if searched:
            j = settings.index((int(budget), samples))
            best = rows[VERIFIER_SCORE].fillna(-np.inf).to_numpy().argmax()
            accuracy[index[problem], j] = float(ok[best])
            cost[index[problem], j] = float(rows["_tokens"].sum())
            continue
        classes = (
            rows[VOTE_CLASS].fillna(-1).to_numpy(dtype=np.int64) if VOTE_CLASS in rows else None
        )
        tokens = float(rows["_tokens"].mean())
        for k in ks:
            j = settings.index((int(budget), k))
            if k == 1:
                accuracy[index[problem], j] = ok.mean()
            else:
                votes = classes if classes is not None else np.arange(len(ok))
                accuracy[index[problem], j] = subset_accuracy(
                    "maj", k, votes, ok, draws=draws, rng=rng
                )
            cost[index[problem], j] = k * tokens
    labels = (
        group.groupby(PROBLEM_ID)[DIFFICULTY].first().reindex(problems).fillna("").astype(str)
        if DIFFICULTY in group
        else pd.Series("", index=problems)
    )
    keep = ~np.isnan(accuracy).any(axis=1)
    return settings, problems[keep], accuracy[keep], cost[keep], labels.to_numpy()[keep]


def _best_within(accuracy: np.ndarray, cost: np.ndarray, spend: float) -> int:
    """The most accurate setting whose mean cost is at most `spend` (cheaper on
    ties); the cheapest one where none fits."""
    mean_acc, mean_cost = accuracy.mean(axis=0), cost.mean(axis=0)
    fits = np.flatnonzero(mean_cost <= spend + 1e-9)
    if fits.size == 0:
        return int(np.argmin(mean_cost))
    best = mean_acc[fits].max()
    top = fits[mean_acc[fits] >= best - 1e-12]
    return int(top[np.argmin(mean_cost[top])])


MAX_LAMBDAS = 4000


def allocate(
    accuracy: np.ndarray, cost: np.ndarray, weights: np.ndarray, spend: float
) -> np.ndarray:
    """Per level (rows of levels x settings means), the setting picked so that
    the weighted accuracy is highest with weighted mean cost <= spend."""
    slopes = []
    for a, c in zip(accuracy, cost, strict=True):
        da, dc = a[:, None] - a[None, :], c[:, None] - c[None, :]
        ok = (dc > 0) & (da > 0)
        slopes.append(da[ok] / dc[ok])
    lambdas = np.unique(np.concatenate([[0.0], *slopes]))
    if lambdas.size > MAX_LAMBDAS:
        lambdas = np.quantile(lambdas, np.linspace(0, 1, MAX_LAMBDAS))
    # Every lambda at once; ties go to the cheaper setting (a tiny cost tilt).
    scores = accuracy[None] - (lambdas[:, None, None] + 1e-9) * cost[None]
    picks = scores.argmax(axis=2)  # lambdas x levels
    rows = np.arange(len(weights))
    spent = (cost[rows, picks] * weights).sum(axis=1)
    gained = (accuracy[rows, picks] * weights).sum(axis=1)
    feasible = spent <= spend + 1e-9
    if not feasible.any():
        return cost.argmin(axis=1)
    best = np.flatnonzero(feasible)[np.argmax(gained[feasible])]
    return picks[best]


def _label(settings: list[tuple[int, int]], j: int) -> str:
    budget, k = settings[j]
    return f"b={budget},k={k}"


def compute_optimal(
    records: pd.DataFrame, *, splits: int = 20, spends: int = 6, seed: int = 0
) -> pd.DataFrame:
    """Per configuration and spend level: the per-difficulty policy beside the
    best single setting, on held-out halves."""
    graded = with_verdict(records)
    rows = []
    for config, group in graded.groupby(CONFIG, sort=True):
        settings, problems, accuracy, cost, labels = settings_matrix(group, seed=seed)
        names = [_label(settings, j) for j in range(len(settings))]
        fitted = held_out_policy(names, accuracy, cost, labels, splits, spends, seed)
        rows += [dict(zip(CONFIG, config, strict=True), **row) for row in fitted]
    columns = [*CONFIG, "spend_tokens", "policy_accuracy", "policy_tokens", "single_accuracy"]
    return pd.DataFrame(rows, columns=[*columns, *REST])


REST = [
    "single_tokens", "gain", "gain_low", "gain_high", "single_setting", "per_difficulty",
    "splits", "test_problems",
]  # fmt: skip


def compute_optimal_strategies(
    records: pd.DataFrame, *, splits: int = 20, spends: int = 6, seed: int = 0
) -> pd.DataFrame:
    """The same choice among strategies: per model and task, every strategy's
    settings on the problems they all answered (single: a budget; sc: a
    budget and k; a search: a budget at its n), a setting per difficulty
    against the best single (strategy, setting), both scored on held-out
    halves. Costs are tokens per problem, policy and verifier."""
    graded = with_verdict(records)
    rows = []
    for (model, task), runs in graded.groupby([MODEL, TASK], sort=True):
        if runs[STRATEGY].nunique() < 2:
            continue
        parts = [
            (strategy, settings_matrix(group, seed=seed))
            for strategy, group in runs.groupby(STRATEGY, sort=True)
        ]
        common = sorted(set.intersection(*(set(part[1][1]) for part in parts)))
        if len(common) < 4:
            continue
        names, accuracy, cost, labels = [], [], [], None
        for strategy, (settings, problems, acc, cst, levels) in parts:
            at = pd.Index(problems).get_indexer(common)
            names += [f"{strategy} {_label(settings, j)}" for j in range(len(settings))]
            accuracy.append(acc[at])
            cost.append(cst[at])
            labels = levels[at] if labels is None else labels
        fitted = held_out_policy(
            names, np.hstack(accuracy), np.hstack(cost), labels, splits, spends, seed
        )
        rows += [dict(model=model, task=task, **row) for row in fitted]
    columns = [MODEL, TASK, "spend_tokens", "policy_accuracy", "policy_tokens"]
    return pd.DataFrame(rows, columns=[*columns, "single_accuracy", *REST])


def held_out_policy(
    names: list[str],
    accuracy: np.ndarray,
    cost: np.ndarray,
    labels: np.ndarray,
    splits: int,
    spends: int,
    seed: int,
) -> list[dict]:
    """Per spend level: a setting per difficulty and the best single setting,
    fitted on one half of the problems and scored on the other, over `splits`
    random halves."""
    count = len(labels)
    if count < 4:
        return []
    levels = np.unique(cost.mean(axis=0))
    if levels.size > spends:
        levels = np.unique(np.quantile(levels, np.linspace(0, 1, spends), method="nearest"))
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(count) for _ in range(splits)]
    rows = []
    for spend in levels:
        gains, results, single_picks, policy_picks = [], [], Counter(), Counter()
        for order in orders:
            train, test = order[: count // 2], order[count // 2 :]
            single = _best_within(accuracy[train], cost[train], spend)
            levels_all = sorted(np.unique(labels), key=difficulty_key)
            # A level absent from the training half gets the single setting.
            levels_fit = [d for d in levels_all if (labels[train] == d).any()]
            means = [train[labels[train] == d] for d in levels_fit]
            picked = allocate(
                np.array([accuracy[r].mean(axis=0) for r in means]),
                np.array([cost[r].mean(axis=0) for r in means]),
                np.array([r.size for r in means]) / train.size,
                spend,
            )
            choice = dict.fromkeys(levels_all, single) | dict(
                zip(levels_fit, (int(j) for j in picked), strict=True)
            )
            picks = np.array([choice[label] for label in labels[test]])
            policy_acc = accuracy[test, picks].mean()
            single_acc = accuracy[test, single].mean()
            results.append(
                (policy_acc, cost[test, picks].mean(), single_acc, cost[test, single].mean())
            )
            gains.append(policy_acc - single_acc)
            single_picks[names[single]] += 1
            policy_picks["; ".join(f"{d or 'all'}: {names[j]}" for d, j in choice.items())] += 1
        mean = np.mean(results, axis=0)
        low, high = np.percentile(gains, [2.5, 97.5])
        rows.append(
            dict(
                spend_tokens=float(spend),
                policy_accuracy=float(mean[0]),
                policy_tokens=float(mean[1]),
                single_accuracy=float(mean[2]),
                single_tokens=float(mean[3]),
                gain=float(np.mean(gains)),
                gain_low=float(low),
                gain_high=float(high),
                single_setting=single_picks.most_common(1)[0][0],
                per_difficulty=policy_picks.most_common(1)[0][0],
                splits=splits,
                test_problems=count - count // 2,
            )
        )
    return rows
