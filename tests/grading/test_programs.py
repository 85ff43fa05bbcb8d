"""Program-style code tests (LiveCodeBench's stdin and functional modes):
LiveCodeBench's comparison rule with its near misses, every kind of failure
named, our own suites' reference solutions passing and planted wrong ones
failing, and hostile programs contained (the trust boundary of the sandbox:
the program never sees an expected output or another test's input)."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from helpers import needs_bwrap, needs_sandbox

from bench.grading.code import grade, programs
from bench.grading.code.programs import check_program, functional_case, same_output
from bench.paths import PROJECT_ROOT

SUITES = PROJECT_ROOT / "tasks" / "programs"


def stdin_gold(*pairs: tuple[str, str], **extra) -> dict:
    tests = [{"input": i, "output": o, "testtype": "stdin"} for i, o in pairs]
    return {"tests": tests, "fn_name": None, **extra}


ADD = stdin_gold(("1 2\n", "3\n"), ("5 7\n", "12\n"), ("-4 4\n", "0\n"))
ADD_RIGHT = "a, b = map(int, input().split())\nprint(a + b)\n"


# ---- LiveCodeBench's comparison rule -----------------------------------------

SAME = [
    ("3", "3"),
    ("3\n", "3"),  # the whole output is stripped
    ("  3  \n\n", "3"),
    ("1 2 3", "1 2 3"),
    ("1  2\t3", "1 2 3"),  # items compared as numbers split on any whitespace
    ("1.0", "1"),  # numbers compare as decimals
    ("1e3", "1000"),
    ("0.50 2", "0.5 2.00"),
    ("-0", "0"),
    ("a\r\nb\r\n", "a\nb"),  # each line stripped, so CRLF is fine
    ("Yes\nNo", "Yes\nNo"),
    ("", ""),
    ("nan", "nan"),  # equal as text before any number is read
]
DIFFERENT = [
    ("3", "4"),
    ("yes", "Yes"),  # text is compared exactly
    ("1 2", "1 2 3"),
    ("1\n2", "1 2"),  # line structure matters
    ("1\n\n2", "1\n2"),  # an inner blank line is a line
    ("0.1", "0.10000001"),  # decimals, not floats within a tolerance
    ("50000000000000000", "50000000000000001"),
    ("1,000", "1000"),
    ("NaN", "nan2"),
    ("sNaN", "0"),  # a signalling NaN is no number to compare
    ("3", ""),
    ("inf", "1e400"),
]


@pytest.mark.parametrize(("got", "expected"), SAME)
def test_outputs_that_are_the_same(got, expected):
    assert same_output(got, expected)
    assert same_output(expected, got)


@pytest.mark.parametrize(("got", "expected"), DIFFERENT)
def test_outputs_that_differ(got, expected):
    assert not same_output(got, expected)
    assert not same_output(expected, got)


def test_functional_cases_are_one_json_value_a_line():
    args, expected = functional_case({"input": '[1, 2]\n"x"\n{"a": null}', "output": "[true]"})
    assert args == [[1, 2], "x", {"a": None}]
    assert expected == [True]
    with pytest.raises(ValueError):
        functional_case({"input": "[1, 2", "output": "1"})


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"tests": []}, "no tests"),
        ({"tests": [{"input": 1, "output": "1"}]}, "string input"),
        ({"tests": [{"input": "1", "output": None}]}, "string input"),
        ({"tests": [{"input": "1", "output": "1", "testtype": "functional"}]}, "fn_name"),
        (
            {"tests": [{"input": "[1", "output": "1", "testtype": "functional"}], "fn_name": "f"},
            "not JSON",
        ),
        ({"tests": [{"input": "1", "output": "1"}], "time_limit_s": -1}, "time_limit_s"),
        ({"tests": [{"input": "1", "output": "1"}], "time_limit_s": "6"}, "time_limit_s"),
    ],
)
def test_unusable_gold_is_a_one_line_error(spec, why):
    with pytest.raises(programs.GoldError, match=why):
        programs.check_gold(spec)
    result = check_program(ADD_RIGHT, spec, 5.0)
    assert not result.passed and "gold is unusable" in result.detail


# ---- verdicts: every kind of failure, named with its test ----------------------

KINDS = {
    "passes": (ADD_RIGHT, "passed", ""),
    "wrong answer": ("a, b = map(int, input().split())\nprint(a - b)\n", "failed", "wrong answer"),
    "wrong on a later test only": (
        "a, b = map(int, input().split())\nprint(a + b if a > 0 else 1)\n",
        "failed",
        "wrong answer (expected '0', got '1') on test 3 of 3",
    ),
    "runtime error": ("raise ValueError('boom')\n", "error", "runtime error (ValueError: boom)"),
    "syntax error": ("print(\n", "error", "runtime error"),
    "exits non-zero": ("import sys\nprint(3)\nsys.exit(2)\n", "error", "runtime error"),
    "memory": ("x = bytearray(8 << 30)\n", "crashed", "memory limit"),
    "time limit": ("while True:\n    pass\n", "timeout", "time limit on test 1"),
    "reads nothing, prints nothing": ("pass\n", "failed", "wrong answer"),
    "prints the input back": ("print(input())\n", "failed", "wrong answer"),
    "flood": (
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        "failed",
        "output over the cap",
    ),
}


@needs_sandbox
@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_failure_kind_is_named_with_its_test(name):
    program, status, words = KINDS[name]
    gold = dict(ADD, time_limit_s=1.0)
    result = check_program(program, gold, 1.0)
    assert result.status == status, result.detail
    assert result.passed == (status == "passed")
    assert words in result.detail
    if status != "passed":
        assert " on test " in result.detail and "of 3" in result.detail


@needs_sandbox
def test_a_slow_program_stops_at_the_total_limit(monkeypatch):
    """Each test within its own limit, all of them past the total one."""
    monkeypatch.setattr(programs, "MAX_TOTAL_S", 2.0)
    slow = textwrap.dedent(
        """
        import time
        end = time.process_time() + 0.6
        while time.process_time() < end:
            pass
        print(sum(map(int, input().split())))
        """
    )
    gold = stdin_gold(*[("1 1\n", "2\n")] * 10, time_limit_s=1.0)
    started = time.monotonic()
    result = programs.check_stdin(slow, gold, 1.0)
    took = time.monotonic() - started
    assert result.status == "timeout" and "all tests" in result.detail
    assert programs._total_s(1.0, 10, 1.0) == 2.0
    assert took < 2.0 + 1.0 * 2 + 2  # the last test's own limit at most, past the total


FUNCTIONAL = {
    "tests": [
        {"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"},
        {"input": "[3, 3]\n6", "output": "[0, 1]", "testtype": "functional"},
    ],
    "fn_name": "twoSum",
}
TWO_SUM = textwrap.dedent(
    """
    class Solution:
        def twoSum(self, nums: List[int], target: int) -> List[int]:
            seen = {}
            for j, x in enumerate(nums):
                if target - x in seen:
                    return RESULT
                seen[x] = j
    """
)


@needs_sandbox
@pytest.mark.parametrize(
    ("result", "status", "words"),
    [
        ("[seen[target - x], j]", "passed", ""),
        ("(seen[target - x], j)", "passed", ""),  # a tuple reads as a list
        ("[j, seen[target - x]]", "failed", "wrong answer on test 1 of 2"),
        (
            "[seen[target - x], j] if len(nums) > 2 else None",
            "failed",
            "wrong answer on test 2 of 2",
        ),
        ("{'a': 1}", "failed", "wrong answer"),
        ("1 / 0", "error", "runtime error on test 1 of 2 (ZeroDivisionError"),
        ("object()", "error", "runtime error on test 1 of 2"),  # no plain data
    ],
)
def test_functional_results_compare_as_data(result, status, words):
    outcome = check_program(TWO_SUM.replace("RESULT", result), FUNCTIONAL, 5.0)
    assert outcome.status == status, outcome.detail
    assert words in outcome.detail


@needs_sandbox
def test_a_plain_function_serves_when_there_is_no_solution_class():
    program = "def twoSum(nums, target):\n    return [0, 1]\n"
    assert check_program(program, FUNCTIONAL, 5.0).passed
    missing = check_program("def other():\n    pass\n", FUNCTIONAL, 5.0)
    assert missing.status == "error" and "runtime error on test 1" in missing.detail


# ---- our own suites: references pass, planted wrong solutions fail ------------------


def _own_rows() -> list[dict]:
    rows = []
    for kind in ("stdin", "functional"):
        path = SUITES / f"thinkbench-{kind}.jsonl"
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def test_our_suites_have_the_promised_sizes_and_fields():
    from bench.tasks import loader

    stdin = loader.load_problems(loader.load_spec("thinkbench_stdin"))
    functional = loader.load_problems(loader.load_spec("thinkbench_functional"))
    assert len(stdin) >= 30 and len(functional) >= 20
    for problem in stdin + functional:
        gold = json.loads(problem.gold)
        programs.check_gold(gold)
        assert len(gold["tests"]) >= 3
        assert problem.difficulty in ("easy", "medium", "hard")
        assert "### Format:" in problem.question
    assert {programs.mode(json.loads(p.gold)) for p in stdin} == {"stdin"}
    assert {programs.mode(json.loads(p.gold)) for p in functional} == {"functional"}
    assert all("class Solution" in p.meta["starter_code"] for p in functional)


def test_the_suite_files_match_their_definitions():
    """The JSONL files are built from the YAML definitions (python -m
    bench.tasks.own_programs): same problems, same inputs, same statements."""
    from bench.tasks import own_programs

    rows = {r["question_id"]: r for r in _own_rows()}
    for kind in ("stdin", "functional"):
        for problem in own_programs.definitions(kind):
            row = rows.pop(problem["id"])
            inputs = [own_programs.test_input(kind, v) for v in problem["inputs"]]
            gold_inputs = [t["input"] for t in json.loads(row["public_test_cases"])]
            from bench.tasks.livecodebench import decode_private

            gold_inputs += [t["input"] for t in decode_private(row["private_test_cases"])]
            assert gold_inputs == inputs, problem["id"]
            assert row["reference_solution"] == problem["reference"]
            assert row["wrong_solution"] == problem["wrong"]
            assert row["question_content"].startswith(problem["statement"].strip())
    assert not rows


@needs_sandbox
def test_every_reference_passes_and_every_wrong_solution_fails():
    """Through the code grader's batch entry point, as a sweep grades."""
    from bench.tasks import loader

    problems = loader.load_problems(loader.load_spec("thinkbench_stdin")) + loader.load_problems(
        loader.load_spec("thinkbench_functional")
    )
    solutions = {r["question_id"]: r for r in _own_rows()}
    items = []
    for p in problems:
        for field in ("reference_solution", "wrong_solution"):
            items.append((f"```python\n{solutions[p.problem_id][field]}```", p.gold, 5.0))
    results = grade.check_many(items, 5.0)
    verdicts = {}
    for p, right, wrong in zip(problems, results[::2], results[1::2], strict=True):
        verdicts[p.problem_id] = (right.status, wrong.status)
        assert right.passed, (p.problem_id, right.detail)
        assert not wrong.passed, p.problem_id
        assert " on test " in wrong.detail or "time limit" in wrong.detail, wrong.detail
    assert len(verdicts) == 50


# ---- hostile programs (the sandbox battery, stdin mode) ------------------------------

SECRET = "Z9-expected-output-only-the-harness-holds"
HOSTILE_GOLD = stdin_gold(("first\n", SECRET + "\n"), ("second-input-never-shown\n", "x\n"))


@needs_bwrap
@pytest.mark.parametrize(
    "program",
    [
        # look for the expected output anywhere it could be
        textwrap.dedent(
            """
            import os
            found = []
            for root, dirs, files in os.walk("/"):
                if root.startswith(("/proc", "/sys", "/dev")):
                    continue
                for name in files:
                    try:
                        with open(os.path.join(root, name), "rb") as f:
                            if b"Z9-expected" in f.read(1 << 20):
                                found.append(os.path.join(root, name))
                    except OSError:
                        pass
            print(found[0] if found else "nothing")
            """
        ),
        # read the other tests' inputs (or anything beside the program)
        textwrap.dedent(
            """
            import os
            print(sorted(os.listdir(os.path.dirname(__file__))), os.listdir("/sandbox"))
            print(open("/proc/1/cmdline", "rb").read())
            """
        ),
        # ask the parent process for it
        "import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())\n",
    ],
)
def test_the_expected_output_and_other_inputs_are_out_of_reach(program):
    result = check_program(program, HOSTILE_GOLD, 5.0)
    assert not result.passed
    assert SECRET not in result.stdout and "second-input" not in result.stdout


@needs_bwrap
def test_only_the_program_and_its_launcher_are_in_the_sandbox():
    program = "import os\nprint(' '.join(sorted(os.listdir('/sandbox'))))\n"
    gold = stdin_gold(("\n", "program.py stdio.py\n"))
    assert check_program(program, gold, 5.0).passed


@needs_sandbox
def test_a_forked_child_does_not_outlive_its_test():
    """A child that sleeps past the test and then writes the answer: the test
    ends when the program does, and nothing it started runs into the next."""
    program = textwrap.dedent(
        """
        import os, sys, time
        data = sys.stdin.read()
        if os.fork() == 0:
            time.sleep(3)
            print(sum(map(int, data.split())), flush=True)
            os._exit(0)
        """
    )
    started = time.monotonic()
    result = check_program(program, ADD, 5.0)
    assert result.status == "failed", result.detail
    assert result.detail.startswith("wrong answer") and "on test 1 of 3" in result.detail
    assert time.monotonic() - started < 3


@needs_sandbox
def test_a_fork_bomb_is_contained_and_the_next_program_passes():
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = check_program(bomb, dict(ADD, time_limit_s=1.0), 1.0)
    assert not result.passed
    assert check_program(ADD_RIGHT, ADD, 5.0).passed


@needs_sandbox
def test_the_harness_keeps_a_bounded_share_of_a_flood():
    result = check_program("print('y' * (64 << 20))\n", ADD, 5.0)
    assert result.status == "failed" and "output over the cap" in result.detail
    assert len(result.stdout) <= 2000
