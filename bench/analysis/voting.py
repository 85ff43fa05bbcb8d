"""Accuracy of k samples out of N: any of them right (pass@k, unbiased
estimator in metrics.pass_at_k), majority vote (maj@k), best-of-k by a
verifier score (bon@k) and score-weighted voting (wbon@k).

For each problem, the value at k is the expectation over every size-k
subset of its N samples, not the first k (the first k would make the curve
depend on sample order). Where C(N, k) is small the subsets are enumerated
exactly; otherwise `draws` random subsets estimate the same expectation
without bias. Ties are broken uniformly at random, so a tie between a right
and a wrong class counts one half.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd

from bench.run.columns import (
    CORRECT,
    PROBLEM_ID,
    PROMPT_TOKENS,
    REPEAT,
    SAMPLE,
    THINKING_TOKENS,
    VERIFIER_SCORE,
    VOTE_CLASS,
)

METHODS = ("maj", "bon", "wbon")
MAX_EXACT_SUBSETS = 5000


def subsets(n: int, k: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Index rows of size-k subsets of range(n): all of them, or `draws` random ones."""
    if comb(n, k) <= MAX_EXACT_SUBSETS:
        return np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)
    return np.argsort(rng.random((draws, n)), axis=1)[:, :k]


def _pick_value(weights: np.ndarray, class_correct: np.ndarray) -> np.ndarray:
    """Per subset row: the share of top-weight classes that are correct (0 if none voted)."""
    top = weights.max(axis=1, keepdims=True)
    tied = (weights == top) & (top > 0)
    ties = tied.sum(axis=1)
    hits = (tied * class_correct).sum(axis=1)
    return np.divide(hits, ties, out=np.zeros(len(weights)), where=ties > 0)


def subset_accuracy(
    method: str,
    k: int,
    classes: np.ndarray,
    correct: np.ndarray,
    scores: np.ndarray | None = None,
    *,
    draws: int = 1000,
    rng: np.random.Generator | None = None,
) -> float:
    """Expected accuracy of `method` on k of one problem's N samples.

    classes: answer class per sample (equivalent answers share one; -1 = no answer);
    correct: whether each sample's answer is right; scores: a verifier's score
    per sample (higher is better; bon and wbon need it).
    """
    classes = np.asarray(classes, dtype=np.int64)
    correct = np.asarray(correct, dtype=bool)
    n = classes.size
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of samples ({n})")
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not known; choose one of: {', '.join(METHODS)}")
    if method != "maj" and scores is None:
        raise ValueError(f"{method} needs verifier scores")
    rows = subsets(n, k, draws, rng or np.random.default_rng(0))
    if method == "bon":
        # One candidate per sample: the highest score wins.
        s = np.asarray(scores, dtype=float)[rows]
        weights = np.where(s == s.max(axis=1, keepdims=True), 1.0, 0.0)
        return float(_pick_value(weights, correct[rows].astype(float)).mean())
    # Votes per class: maj counts samples, wbon sums (shifted, positive) scores.
    answered = classes >= 0
    labels = np.where(answered, classes, 0)
    n_classes = int(labels.max()) + 1 if answered.any() else 1
    class_correct = np.zeros(n_classes)
    np.maximum.at(class_correct, labels[answered], correct[answered].astype(float))
    if method == "maj":
        vote = answered.astype(float)
    else:
        s = np.asarray(scores, dtype=float)
        vote = np.where(answered, s - s.min() + 1e-9, 0.0)
    weights = np.zeros((len(rows), n_classes))
    row_index = np.repeat(np.arange(len(rows)), k)
    np.add.at(weights, (row_index, labels[rows].ravel()), vote[rows].ravel())
    return float(_pick_value(weights, class_correct).mean())


def ks_for(n: int) -> list[int]:
    """1, 2, 4, … up to n, and n itself."""
    ks = [1]
    while ks[-1] * 2 <= n:
        ks.append(ks[-1] * 2)
    if ks[-1] != n:
        ks.append(n)
    return ks


def voting_table(
    records: pd.DataFrame,
    *,
    by: tuple[str, ...] = (),
    draws: int = 1000,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """maj@k (and bon@k, wbon@k where records carry verifier scores) per
    model x task x strategy x budget x k, with bootstrap CIs over problems.
    Only configurations with several samples per problem get rows."""
    from bench.analysis.cost import policy_generated
    from bench.analysis.metrics import GROUP, bootstrap_ci, pass_at_k, with_verdict

    keys = [*GROUP[:2], *by, *GROUP[2:]]
    graded = with_verdict(records)
    if graded.empty or graded[SAMPLE].max() < 1:
        return pd.DataFrame()
    rng = np.random.default_rng(seed)
    rows = []
    for group_keys, group in graded.groupby(keys, sort=True):
        # A vote is among the samples of one problem under one seed (repeat);
        # repeats of a problem are averaged before the bootstrap over problems.
        units = [PROBLEM_ID, REPEAT] if REPEAT in group else [PROBLEM_ID]
        voted = group.assign(repeat=group[REPEAT].fillna(0)) if REPEAT in group else group
        keyed = list(voted.groupby(units, sort=True))
        per_problem = [g.sort_values(SAMPLE) for _, g in keyed]
        owners = np.array([key[0] if isinstance(key, tuple) else key for key, _ in keyed])
        n = min(len(g) for g in per_problem)
        if n < 2:
            continue
        has_scores = VERIFIER_SCORE in group and group[VERIFIER_SCORE].notna().all()
        # pass@k: any of k right (unbiased estimator); maj: the vote of k; bon / wbon:
        # the verifier's pick of k.
        methods = ["pass", "maj", "bon", "wbon"] if has_scores else ["pass", "maj"]
        # A search's attempts carry their share of all it generated (cost.py).
        generated = policy_generated(group).mean()
        total = (group[PROMPT_TOKENS] + policy_generated(group)).mean()
        arrays = [
            (
                g[VOTE_CLASS].fillna(-1).to_numpy(dtype=np.int64)[:n]
                if VOTE_CLASS in g
                else np.full(n, -1),
                g[CORRECT].astype(bool).to_numpy()[:n],
                g[VERIFIER_SCORE].to_numpy(dtype=float)[:n] if has_scores else None,
            )
            for g in per_problem
        ]
        for method in methods:
            for k in ks_for(n):
                if method == "pass":
                    values = np.array([pass_at_k(n, int(ok.sum()), k) for _, ok, _ in arrays])
                else:
                    values = np.array(
                        [
                            subset_accuracy(method, k, c, ok, sc, draws=draws, rng=rng)
                            for c, ok, sc in arrays
                        ]
                    )
                if len(set(owners)) < len(owners):  # several repeats: one value per problem
                    values = pd.Series(values).groupby(owners).mean().to_numpy()
                low, high = bootstrap_ci(values, resamples=resamples, seed=seed)
                rows.append(
                    dict(
                        zip(keys, group_keys, strict=True),
                        method=method,
                        k=k,
                        n=len(values),
                        accuracy=float(values.mean()),
                        ci_low=low,
                        ci_high=high,
                        mean_thinking_tokens=float(group[THINKING_TOKENS].mean()),
                        mean_total_tokens=float(total),
                        generated_tokens_per_problem=float(k * generated),
                    )
                )
    return pd.DataFrame(rows)
