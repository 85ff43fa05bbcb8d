"""Routing: which problems to send to the cheap configuration and which to
the expensive one, judged on problems the routing rule was not fitted on.

A tier is one (model, strategy, budget) of the runs, with per problem its
first sample's correctness, its cost, and the signals a cascade may act on:
no extractable answer, thinking cut by the budget, self-consistency
agreement (share of samples in the largest answer class) and verifier score.

Policies:
  single      one tier for every problem
  oracle      per problem the cheapest tier that is right (an upper bound)
  difficulty  per difficulty label, the cheapest tier within `slack` of the
              best accuracy on that label (fitted; a label the training half
              lacks goes to the tier chosen the same way over all of it)
  cascade     start on a cheap tier, escalate to a dearer one when a signal
              fires: no answer, cut, agreement < tau, verifier < tau (tau fitted)

Every policy is scored on the held-out half of `splits` random half-splits
(fitted policies fit on the other half); the table reports the mean over
splits and the 2.5-97.5 percentile range across them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pandas as pd

from bench.analysis.metrics import label_key, with_verdict
from bench.run.columns import (
    ANSWER,
    ANSWER_TOKENS,
    BUDGET,
    CORRECT,
    DIFFICULTY,
    HIT_BUDGET,
    MODEL,
    PROBLEM_ID,
    SAMPLE,
    STRATEGY,
    THINKING_TOKENS,
    VERIFIER_SCORE,
    VOTE_CLASS,
)

TIER = [MODEL, STRATEGY, BUDGET]
SIGNALS = ("no_answer", "cut", "agreement", "verifier")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class Tiers:
    names: list[str]
    problems: np.ndarray  # problem ids, one per row
    correct: np.ndarray  # problems x tiers, 0/1
    cost: np.ndarray  # problems x tiers
    signals: dict[str, np.ndarray]  # name -> problems x tiers (NaN where unknown)
    difficulty: np.ndarray  # one label per problem ("" where none)
    cost_unit: str


def build_tiers(priced: pd.DataFrame, cost: str = "usd") -> Tiers:
    """Tiers from (priced) records; cost falls back to generated tokens when
    the records carry no prices."""
    records = with_verdict(priced).copy()
    unit = "usd"
    if cost not in records or records[cost].isna().all():
        records["_cost"] = records[THINKING_TOKENS] + records[ANSWER_TOKENS]
        unit = "tokens"
    else:
        records["_cost"] = records[cost]
    records["tier"] = records[TIER].astype(str).agg(" · ".join, axis=1)
    names = sorted(
        records["tier"].unique(), key=lambda t: records.loc[records["tier"] == t, "_cost"].mean()
    )
    problems = np.array(
        sorted(
            set.intersection(*(set(records.loc[records["tier"] == t, PROBLEM_ID]) for t in names))
        )
    )
    first = records[
        records[SAMPLE] == records.groupby(["tier", PROBLEM_ID])[SAMPLE].transform("min")
    ]

    def matrix(frame: pd.DataFrame, column: str) -> np.ndarray:
        table = frame.pivot_table(index=PROBLEM_ID, columns="tier", values=column, aggfunc="mean")
        return table.reindex(index=problems, columns=names).to_numpy(dtype=float)

    first = first.assign(
        correct=first[CORRECT].astype(bool).astype(float),
        no_answer=first[ANSWER].isna().astype(float) if ANSWER in first else np.nan,
        cut=first[HIT_BUDGET].astype(float),
    )
    signals = {"no_answer": matrix(first, "no_answer"), "cut": matrix(first, "cut")}
    if VOTE_CLASS in records and records.groupby(["tier", PROBLEM_ID]).size().max() > 1:

        def agreement(classes: pd.Series) -> float:
            answered = classes[classes >= 0]
            return answered.value_counts().iloc[0] / len(classes) if len(answered) else 0.0

        share = records.groupby(["tier", PROBLEM_ID])[VOTE_CLASS].agg(agreement).rename("agreement")
        signals["agreement"] = matrix(share.reset_index(), "agreement")
    if VERIFIER_SCORE in first and first[VERIFIER_SCORE].notna().any():
        signals["verifier"] = matrix(first, VERIFIER_SCORE)
    difficulty = (
        first.groupby(PROBLEM_ID)[DIFFICULTY].first().reindex(problems).fillna("").to_numpy()
        if DIFFICULTY in first
        else np.full(len(problems), "")
    )
    return Tiers(
        names,
        problems,
        matrix(first, CORRECT),
        matrix(first, "_cost"),
        signals,
        difficulty.astype(str),
        unit,
    )


def _fires(values: np.ndarray, signal: str, tau: float | None) -> np.ndarray:
    if signal in ("no_answer", "cut"):
        return values >= 0.5
    return values < tau  # agreement / verifier below the threshold


def _cascade(t: Tiers, rows: np.ndarray, a: int, b: int, signal: str, tau: float | None):
    escalate = _fires(t.signals[signal][rows, a], signal, tau)
    correct = np.where(escalate, t.correct[rows, b], t.correct[rows, a])
    cost = t.cost[rows, a] + np.where(escalate, t.cost[rows, b], 0.0)
    return correct, cost, escalate


def _fit_tau(t: Tiers, train: np.ndarray, a: int, b: int, signal: str, slack: float) -> float:
    """The cheapest threshold whose training accuracy is within `slack` of the best."""
    scores = []
    for tau in THRESHOLDS:
        correct, cost, _ = _cascade(t, train, a, b, signal, tau)
        scores.append((correct.mean(), cost.mean(), tau))
    best = max(s[0] for s in scores)
    return min((s for s in scores if s[0] >= best - slack), key=lambda s: s[1])[2]


def _cheapest_good(t: Tiers, rows: np.ndarray, slack: float) -> int:
    """The cheapest tier within `slack` of the best accuracy on `rows`."""
    accuracy = t.correct[rows].mean(axis=0)
    ok = np.flatnonzero(accuracy >= accuracy.max() - slack)
    return int(ok[np.argmin(t.cost[rows][:, ok].mean(axis=0))])


def _fit_difficulty(t: Tiers, train: np.ndarray, slack: float) -> dict[str, int]:
    """Per difficulty label, the cheapest tier within `slack` of the best on
    the training rows of that label; under the key None, the same over all
    training rows: where a label the training half never saw goes."""
    choice: dict = {None: _cheapest_good(t, train, slack)}
    for label in np.unique(t.difficulty):
        rows = train[t.difficulty[train] == label]
        if rows.size:
            choice[label] = _cheapest_good(t, rows, slack)
    return choice


def _halves(n: int, splits: int, seed: int):
    """(train, test) row indices of `splits` random half-splits; the same
    seed gives the same splits to every function that asks."""
    rng = np.random.default_rng(seed)
    for _ in range(splits):
        order = rng.permutation(n)
        yield order[: n // 2], order[n // 2 :]


def difficulty_choices(
    t: Tiers, splits: int = 20, slack: float = 0.02, seed: int = 0
) -> pd.DataFrame:
    """Which tier the difficulty router sends each label to: the tier its
    training halves chose most often (the splits `evaluate` scores), with
    the share of splits that chose it. Empty without difficulty labels."""
    chosen: dict[str, list[int]] = {}
    if np.any(t.difficulty != ""):
        for train, _ in _halves(len(t.problems), splits, seed):
            for label, tier in _fit_difficulty(t, train, slack).items():
                if label is None:
                    continue
                chosen.setdefault(str(label), []).append(tier)
    rows = []
    for label in sorted(chosen, key=label_key):
        counts = np.bincount(chosen[label], minlength=len(t.names))
        tier = int(counts.argmax())
        rows.append(
            {
                DIFFICULTY: label,
                "tier": t.names[tier],
                MODEL: t.names[tier].split(" · ")[0],
                "share_of_splits": counts[tier] / len(chosen[label]),
            }
        )
    return pd.DataFrame(rows, columns=[DIFFICULTY, "tier", MODEL, "share_of_splits"])


def evaluate(t: Tiers, splits: int = 20, slack: float = 0.02, seed: int = 0) -> pd.DataFrame:
    """Every policy on held-out halves of `splits` random splits."""
    n = len(t.problems)
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    fitted: dict[tuple[str, str], list[float]] = {}

    def add(policy: str, params: str, correct, cost, escalated, tau=None) -> None:
        results.setdefault((policy, params), []).append(
            (float(np.mean(correct)), float(np.mean(cost)), float(np.mean(escalated)))
        )
        if tau is not None:
            fitted.setdefault((policy, params), []).append(tau)

    cascades = [
        (a, b, signal)
        for a, b in permutations(range(len(t.names)), 2)
        if np.nanmean(t.cost[:, a]) < np.nanmean(t.cost[:, b])
        for signal in SIGNALS
        if signal in t.signals and not np.isnan(t.signals[signal][:, a]).all()
    ]
    labelled = bool(np.any(t.difficulty != ""))
    for train, test in _halves(n, splits, seed):
        for j, name in enumerate(t.names):
            add("single", name, t.correct[test, j], t.cost[test, j], np.zeros(test.size))
        right = t.correct[test] > 0
        cheapest_right = np.where(right, t.cost[test], np.inf).min(axis=1)
        oracle_cost = np.where(
            np.isfinite(cheapest_right), cheapest_right, t.cost[test].min(axis=1)
        )
        add("oracle", "cheapest right tier", right.any(axis=1), oracle_cost, np.zeros(test.size))
        if labelled:
            choice = _fit_difficulty(t, train, slack)
            picks = np.array([choice.get(label, choice[None]) for label in t.difficulty[test]])
            add(
                DIFFICULTY,
                f"slack={slack}",
                t.correct[test, picks],
                t.cost[test, picks],
                picks != 0,
            )
        for a, b, signal in cascades:
            tau = (
                None if signal in ("no_answer", "cut") else _fit_tau(t, train, a, b, signal, slack)
            )
            correct, cost, escalated = _cascade(t, test, a, b, signal, tau)
            params = f"{t.names[a]} -> {t.names[b]} if {signal}" + ("" if tau is None else " < tau")
            add("cascade", params, correct, cost, escalated, tau)
    rows = []
    for (policy, params), values in results.items():
        acc, cost, escalated = (np.array(v) for v in zip(*values, strict=True))
        low, high = np.percentile(acc, [2.5, 97.5])
        cost_low, cost_high = np.percentile(cost, [2.5, 97.5])
        rows.append(
            {
                "policy": policy,
                "parameters": params,
                "accuracy": acc.mean(),
                "ci_low": low,
                "ci_high": high,
                f"mean_cost_{t.cost_unit}": cost.mean(),
                "cost_ci_low": cost_low,
                "cost_ci_high": cost_high,
                "escalated_share": escalated.mean(),
                # the threshold each split's training half chose (median over splits)
                "tau": float(np.median(fitted[(policy, params)]))
                if (policy, params) in fitted
                else np.nan,
                "splits": len(values),
                "test_problems": n - n // 2,
            }
        )
    return (
        pd.DataFrame(rows)
        .sort_values([f"mean_cost_{t.cost_unit}", "accuracy"])
        .reset_index(drop=True)
    )


def verdict(table: pd.DataFrame, within: float = 0.02) -> str:
    """The cheapest policy within `within` of the best achievable accuracy (oracle aside)."""
    cost = next(c for c in table.columns if c.startswith("mean_cost_"))
    real = table[table["policy"] != "oracle"]
    best = real.loc[real["accuracy"].idxmax()]
    close = real[real["accuracy"] >= best["accuracy"] - within]
    cheapest = close.loc[close[cost].idxmin()]
    unit = cost.removeprefix("mean_cost_")
    saving = 1 - cheapest[cost] / best[cost] if best[cost] else 0.0
    return (
        f"Best accuracy {best['accuracy']:.3f} ({best['policy']}: {best['parameters']}) at "
        f"{best[cost]:.4g} {unit}/problem. Cheapest within {within * 100:.0f} points: "
        f"{cheapest['policy']} ({cheapest['parameters']}), accuracy {cheapest['accuracy']:.3f} at "
        f"{cheapest[cost]:.4g} {unit}/problem, {saving:.0%} cheaper. Held-out halves of "
        f"{int(best['splits'])} random splits; fitted rules never saw the problems they are scored on."
    )


# How the one-line routing verdict names difficulty levels, per task: chain
# problems' difficulty is their number of steps (bench/tasks/chain.py).
DIFFICULTY_WORDS = {"chain": ("chains of ≤ {k} steps", "longer ones")}
GENERIC_WORDS = ("problems of difficulty ≤ {k}", "harder ones")


def tiered_verdict(table: pd.DataFrame, choices: pd.DataFrame, task: str = "") -> str | None:
    """One line for a tiered deployment: where the difficulty router splits
    traffic between two models, and what it scores (held out) against the
    model of the hard cases alone; or, when it sends every level to one of
    two models, that. None when its choices are no threshold."""
    if choices.empty or DIFFICULTY not in set(table["policy"]):
        return None
    # A level half the splits or fewer agree on (few problems a level) is
    # undecided: named, but it does not break the split.
    undecided = choices[choices["share_of_splits"] <= 0.5][DIFFICULTY].tolist()
    choices = choices[choices["share_of_splits"] > 0.5]
    if choices.empty:
        return None
    route = _route_words(table, choices, task)
    if route is None:
        return None
    alone = route[1]
    cost = next(c for c in table.columns if c.startswith("mean_cost_"))
    router = table[table["policy"] == DIFFICULTY].iloc[0]
    best = _best_single(table, alone, cost)
    note = f" (undecided: {', '.join(map(str, undecided))})" if undecided else ""
    return (
        f"{route[0]}: accuracy {router['accuracy']:.3f} at {router[cost]:.3g} "
        f"{cost.removeprefix('mean_cost_')}/problem, vs {best['accuracy']:.3f} at "
        f"{best[cost]:.3g} for {alone} alone ({best['parameters']}), on held-out halves{note}"
    )


def _route_words(table: pd.DataFrame, choices: pd.DataFrame, task: str) -> tuple[str, str] | None:
    """(where the decided levels go, the model to score alone beside it), or
    None when the choices are no threshold between two models."""
    models = list(dict.fromkeys(choices[MODEL]))
    singles = table[table["policy"] == "single"]["parameters"].str.split(" · ").str[0]
    others = sorted(set(singles) - set(models))
    if len(models) == 1 and len(others) == 1:
        what = "chain" if task == "chain" else "problem"
        return (
            f"route every {what} to {models[0]} ({others[0]} is on no level as accurate for less)",
            others[0],
        )
    if len(models) != 2:
        return None
    easy, hard = models
    to_easy = (choices[MODEL] == easy).to_numpy()
    cut = int(np.argmin(to_easy)) if not to_easy.all() else len(to_easy)
    if to_easy[cut:].any():
        return None  # not a threshold: some harder label goes back to the easy model
    lower, upper = DIFFICULTY_WORDS.get(task, GENERIC_WORDS)
    k = choices[DIFFICULTY].iloc[cut - 1]
    return f"route {lower.format(k=k)} to {easy}, {upper} to {hard}", hard


def _best_single(table: pd.DataFrame, model: str, cost: str) -> pd.Series:
    """The model's most accurate single tier (the cheapest of equals)."""
    alone = table[(table["policy"] == "single") & table["parameters"].str.startswith(f"{model} · ")]
    return alone[alone["accuracy"] == alone["accuracy"].max()].sort_values(cost).iloc[0]
