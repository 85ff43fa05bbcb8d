"""maj@k / bon@k / wbon@k: the subset estimator against exact enumeration,
tie handling, and the table a multi-sample run gets."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from bench.analysis import voting
from bench.analysis.voting import ks_for, subset_accuracy


def exact_majority(classes, correct, k):
    """Brute force over every k-subset, ties split evenly."""
    values = []
    for subset in combinations(range(len(classes)), k):
        counts = {}
        for i in subset:
            if classes[i] >= 0:
                counts[classes[i]] = counts.get(classes[i], 0) + 1
        if not counts:
            values.append(0.0)
            continue
        top = max(counts.values())
        tied = [c for c, v in counts.items() if v == top]
        right = {classes[i] for i in range(len(classes)) if correct[i] and classes[i] >= 0}
        values.append(sum(c in right for c in tied) / len(tied))
    return float(np.mean(values))


@pytest.mark.parametrize("seed", range(5))
def test_random_subsets_estimate_the_exact_expectation(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    n = 10
    classes = rng.integers(-1, 4, size=n)
    correct = classes == 0  # class 0 is the right answer
    for k in (2, 3, 5):
        exact = exact_majority(classes, correct, k)
        assert subset_accuracy("maj", k, classes, correct) == pytest.approx(exact)
        # Force sampling instead of enumeration: unbiased, so close with many draws.
        monkeypatch.setattr(voting, "MAX_EXACT_SUBSETS", 0)
        sampled = subset_accuracy(
            "maj", k, classes, correct, draws=20000, rng=np.random.default_rng(seed)
        )
        monkeypatch.setattr(voting, "MAX_EXACT_SUBSETS", 5000)
        assert sampled == pytest.approx(exact, abs=0.015)


def test_maj_at_1_is_the_mean_accuracy_and_ties_split():
    classes = np.array([0, 0, 1, 1])
    correct = np.array([True, True, False, False])
    assert subset_accuracy("maj", 1, classes, correct) == pytest.approx(0.5)
    assert subset_accuracy("maj", 4, classes, correct) == pytest.approx(0.5)  # 2-2 tie
    # 3 right votes of 4: every 3-subset has a right majority.
    classes = np.array([0, 0, 0, 1])
    correct = np.array([True, True, True, False])
    assert subset_accuracy("maj", 3, classes, correct) == pytest.approx(1.0)
    assert subset_accuracy("maj", 2, classes, correct) == pytest.approx(
        exact_majority(classes, correct, 2)
    )


def test_unanswered_samples_abstain():
    classes = np.array([-1, -1, 0])
    correct = np.array([False, False, True])
    # Subsets of 2: {-1,-1} -> 0; {-1,0} twice -> 1.
    assert subset_accuracy("maj", 2, classes, correct) == pytest.approx(2 / 3)


def test_best_of_k_picks_the_highest_score():
    classes = np.array([0, 1, 2])
    correct = np.array([False, True, False])
    scores = np.array([0.1, 0.9, 0.5])
    assert subset_accuracy("bon", 3, classes, correct, scores) == 1.0
    # Pairs: (0,1)->1 right, (0,2)->2 wrong, (1,2)->1 right.
    assert subset_accuracy("bon", 2, classes, correct, scores) == pytest.approx(2 / 3)


def test_weighted_vote_sums_scores_per_class():
    # Two low-score votes for a wrong class beat one high-score right vote
    # by count, not by weight.
    classes = np.array([1, 1, 0])
    correct = np.array([False, False, True])
    scores = np.array([0.2, 0.2, 3.0])
    assert subset_accuracy("maj", 3, classes, correct) == 0.0
    assert subset_accuracy("wbon", 3, classes, correct, scores) == 1.0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="k=5"):
        subset_accuracy("maj", 5, np.zeros(3), np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="needs verifier scores"):
        subset_accuracy("bon", 1, np.zeros(3), np.zeros(3, dtype=bool))


def test_ks_are_powers_of_two_and_n():
    assert ks_for(16) == [1, 2, 4, 8, 16]
    assert ks_for(6) == [1, 2, 4, 6]
    assert ks_for(1) == [1]


def test_self_certainty_is_high_for_peaked_and_zero_for_flat_distributions():
    import math

    from bench.strategies.verifiers import self_certainty

    flat = [math.log(0.25)] * 4
    peaked = [math.log(0.97), math.log(0.01), math.log(0.01), math.log(0.01)]
    assert self_certainty(flat) == pytest.approx(0.0)
    assert self_certainty(peaked) > 2.0
    assert math.isnan(self_certainty([]))


def test_step_scores_aggregate_by_last_min_or_product():
    from bench.strategies.verifiers import aggregate_steps

    steps = [0.9, 0.5, 0.8]
    assert aggregate_steps(steps, "last") == 0.8
    assert aggregate_steps(steps, "min") == 0.5
    assert aggregate_steps(steps, "prod") == pytest.approx(0.36)
    with pytest.raises(ValueError, match="mean"):
        aggregate_steps(steps, "mean")
