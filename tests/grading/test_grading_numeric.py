import json

import pytest
from helpers import DATA

from bench.grading import get_grader
from bench.grading.math.numeric import extract_number, grade

CASES = json.loads((DATA / "numeric_cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["answer"][:30] for c in CASES])
def test_golden(case):
    assert grade(case["answer"], case["gold"]).correct is case["correct"]


def test_extracts_none_without_a_number():
    assert extract_number("no digits here") is None
    assert grade("nothing", "3").extracted is None


def test_unknown_grader_names_choices():
    with pytest.raises(ValueError, match="numeric"):
        get_grader("vibes")


def test_pool_grades_rows_in_order_and_keeps_extracted_answers():
    from bench.grading.runtime.pool import GradingPool

    rows = [
        {
            "key": str(i),
            "task": "arith",
            "answer_text": f"Final answer: {i}",
            "gold": str(i + i % 2),
        }
        for i in range(101)
    ] + [{"key": "none", "task": "arith", "answer_text": "no idea", "gold": "3"}]
    pool = GradingPool(2)
    try:
        grades = pool.grade(rows, {"arith": "numeric"})
    finally:
        pool.close()
    assert [g["key"] for g in grades] == [r["key"] for r in rows]
    assert sum(g["correct"] for g in grades) == 51
    assert grades[-1]["answer"] is None and grades[-1]["correct"] is False
