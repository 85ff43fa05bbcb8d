"""The math grader: golden cases (ours, tests/data/math_cases.json), hard
timeouts on pathological input, voting classes, and grading in workers."""

from __future__ import annotations

import json
import time

import pytest
from helpers import DATA

from bench.grading import get_grader
from bench.grading.math.grade import answer_classes, equivalent, equivalent_many, extract_answer
from bench.grading.runtime.pool import GradingPool

CASES = json.loads((DATA / "math_cases.json").read_text())


@pytest.fixture(scope="module")
def verdicts():
    """Every equal / not-equal golden pair, checked in one parallel batch."""
    pairs = [tuple(c) for c in CASES["equal"] + CASES["not_equal"]]
    return dict(zip(pairs, equivalent_many(pairs), strict=True))


def test_there_are_at_least_150_golden_cases_and_a_third_must_be_unequal():
    total = sum(len(v) for v in CASES.values())
    unequal = len(CASES["not_equal"]) + sum(not c[2] for c in CASES["graded"] + CASES["choice"])
    assert total >= 150
    assert unequal * 3 >= total  # a grader is judged first by what it wrongly accepts


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


@pytest.mark.slow
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


@pytest.mark.parametrize(
    "text, gold, expected", CASES["graded"], ids=[c[0][:40] for c in CASES["graded"]]
)
def test_extraction_then_equivalence(text, gold, expected):
    assert equivalent(extract_answer(text) or "", gold) is expected


@pytest.mark.parametrize(
    "text, gold, expected", CASES["choice"], ids=[c[0][:40] or "empty" for c in CASES["choice"]]
)
def test_multiple_choice_tasks_compare_letters(text, gold, expected):
    grader = get_grader("math_choice")
    assert grader.check((grader.extract(text) or "", gold, 5.0)) is expected


def test_multiple_choice_is_a_task_property_not_a_guess(tmp_path, monkeypatch):
    """Letters are compared only for tasks that say so; plain math compares
    "A = 5" with "A = 6" as values."""
    assert equivalent("A = 5", "A = 6") is False
    assert equivalent("(B)", "B") is True  # the same spelling is still the same answer
    assert get_grader("math_choice").check(("B", "(B)", 5.0)) is True
    import bench.tasks.spec as tasks

    monkeypatch.setattr(tasks, "TASKS_DIR", tmp_path)
    (tmp_path / "mc.yaml").write_text("name: mc\ngrader: math\nmultiple_choice: true\n")
    assert tasks.load_spec("mc").grader_name == "math_choice"
    (tmp_path / "bad.yaml").write_text("name: bad\ngrader: numeric\nmultiple_choice: true\n")
    with pytest.raises(tasks.TaskError, match="multiple_choice: true needs grader: math"):
        tasks.load_spec("bad")


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("\\frac43", "\\frac{4}{3}"),
        ("11\\sqrt2", "11\\sqrt{2}"),
        ("(2,\\infty)", "(2, \\infty)"),
        ("x=5", "x = 5"),
        ("(x+1)^2", "x^2+2x+1"),
        ("2e", "e+e"),
    ],
)
def test_exact_shapes_are_equal_without_the_parser(pred, gold):
    from bench.grading.math.exact import exactly_equal

    assert exactly_equal(pred, gold)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("3\\frac12", "\\frac32"),  # maybe a mixed number: left to math-verify
        ("x=5", "y=5"),
        ("(1, 2)", "[1, 2]"),
        ("10^{10^{10}}", "10^{10^{10}}"),  # too large to evaluate here
        ("2e", "2"),
        ("1 000", "1000"),
        ("\\{1, 2\\}", "\\{1, 2\\}"),  # sets are math-verify's
    ],
)
def test_exact_evaluator_never_claims_what_it_cannot_know(pred, gold):
    from bench.grading.math.exact import exactly_equal

    assert not exactly_equal(pred, gold)


def test_change_reasons_name_the_rule():
    from bench.grading.changes import change_reason

    assert change_reason("C", "C", "C = 6", "").endswith("no multiple-choice guessing")
    assert change_reason("2\\mathrm{e}", "2\\mathrm{e}", "2", "").endswith(
        "roman-font letters and operators"
    )
    assert change_reason("sqrt(3)", "sqrt(3)", "\\sqrt{3}", "").endswith("plain-text math")
    assert change_reason("p=5,q=2", "p=5,q=2", "p=5, q=2", "").endswith("labelled solutions")
    text = "\\boxed{1} and \\boxed{2}"
    assert change_reason("2", "1, 2", "\\{1,2\\}", text) == "extraction: several boxes joined"
    text = "\\boxed{3}. The final answer is 7."
    assert change_reason("3", "7", "7", text) == "extraction: final-answer statement after boxes"


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 100_000,
        "\\boxed{1} and " * 100_000,
        "The answer is " + " is x" * 200_000,
        "The answer is " + ", x" * 200_000,
        "Final answer: " + "$ is " * 200_000,
        "\\boxed{" + "{" * 200_000,
    ],
    ids=["open boxes", "joined boxes", "verbs", "commas", "dollars", "open braces"],
)
def test_extraction_stays_linear_on_adversarial_text(text):
    """Extraction runs in the sweep's own process: megabyte inputs built to
    make a careless parser quadratic must not stall it (about 1 s here at most)."""
    started = time.monotonic()
    answer = extract_answer(text)
    assert answer is None or len(answer) <= len(text)
    assert time.monotonic() - started < 20
