"""The math grader: golden cases (ours, tests/data/math_cases.json), hard
timeouts on pathological input, voting classes, and grading in workers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.grading.math import answer_classes, equivalent, equivalent_many, extract_answer
from bench.grading.pool import GradingPool

CASES = json.loads((Path(__file__).parent / "data" / "math_cases.json").read_text())


@pytest.fixture(scope="module")
def verdicts():
    """Every equal / not-equal golden pair, checked in one parallel batch."""
    pairs = [tuple(c) for c in CASES["equal"] + CASES["not_equal"]]
    return dict(zip(pairs, equivalent_many(pairs), strict=True))


def test_there_are_at_least_150_golden_cases():
    assert sum(len(v) for v in CASES.values()) >= 150


@pytest.mark.parametrize("pred, gold", CASES["equal"], ids=[c[0][:40] for c in CASES["equal"]])
def test_equal(verdicts, pred, gold):
    assert verdicts[(pred, gold)] is True


@pytest.mark.parametrize(
    "pred, gold", CASES["not_equal"], ids=[c[0][:40] for c in CASES["not_equal"]]
)
def test_not_equal(verdicts, pred, gold):
    assert verdicts[(pred, gold)] is False


@pytest.mark.parametrize(
    "text, expected", CASES["extraction"], ids=[c[0][:40] for c in CASES["extraction"]]
)
def test_extraction(text, expected):
    assert extract_answer(text) == expected


def test_pathological_inputs_cost_at_most_their_timeout():
    timeout_s = 1.0
    equivalent("1", "1", timeout_s)  # workers started: start-up is not the comparison's cost
    for pred, gold in CASES["pathological"]:
        started = time.monotonic()
        assert equivalent(pred, gold, timeout_s) is False
        assert time.monotonic() - started <= timeout_s + 2.0, pred[:40]
    assert equivalent("\\frac{1}{2}", "0.5", timeout_s) is True  # the pool recovered


@pytest.mark.parametrize("bad", [None, 5, "", "$$", "\\frac{}{}", "9" * 100_000])
def test_bad_input_is_false_never_an_exception(bad):
    assert equivalent(bad, "5") is False
    assert equivalent("5", bad) is False


def test_voting_groups_by_equivalence_not_spelling():
    labels = answer_classes(
        [["1/2", "0.5", "\\frac{1}{2}", "3", None, "3.0", "x = 3"], [], ["\\{1,2\\}", "\\{2,1\\}"]]
    )
    assert labels == [[0, 0, 0, 1, -1, 1, 1], [], [0, 0]]


def test_grading_pool_runs_math_checks_in_workers_and_counts_timeouts():
    rows = [
        {"key": "a", "task": "t", "answer_text": "so \\boxed{\\frac{1}{2}}", "gold": "0.5"},
        {"key": "b", "task": "t", "answer_text": "Final answer: 7", "gold": "8"},
        {"key": "c", "task": "t", "answer_text": "nothing", "gold": "1"},
        {"key": "d", "task": "t", "answer_text": "\\boxed{10^{10^{10}}}", "gold": "1"},
    ]
    pool = GradingPool(2, timeout_s=1.0)
    try:
        grades = pool.grade(rows, {"t": "math"})
        assert pool.timed_out == 1
    finally:
        pool.close()
    assert [(g["answer"], g["correct"]) for g in grades] == [
        ("\\frac{1}{2}", True),
        ("7", False),
        (None, False),
        ("10^{10^{10}}", False),
    ]
