"""Program-style code tests (LiveCodeBench's two kinds), judged on the
trusted side:

stdin       the whole program runs once per test with the test's input on
            stdin; its stdout must equal the expected output by
            LiveCodeBench's rule: both stripped and split into lines, each
            line stripped, the same number of lines, and each line equal as
            text or, where every whitespace-separated item of both lines
            parses as a number, equal as decimal numbers.
functional  LeetCode style: a method of `class Solution` (or a plain function
            of that name) is called with the test's arguments (one JSON value
            per input line) and its result must equal the expected JSON value
            as data (tuples read as lists, as LiveCodeBench does).

The gold of such a task is a JSON object {"tests": [{"input", "output",
"testtype"}...], "fn_name": name or null, "time_limit_s": optional}. The
first test that fails is named in the result's last line with its kind:
wrong answer, runtime error, time limit, memory limit, or crashed (signal).
"""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from bench.grading.sandbox.execute import run_tests
from bench.grading.sandbox.outcome import SANDBOX_ERROR, TestResult
from bench.grading.sandbox.programs import ProgramRun, program_runner

# LiveCodeBench's own preamble before every program: the imports its
# reference harness gives, so `List`, `Counter`, `heappush`... need no import.
PREAMBLE = "\n".join(
    [
        *(
            f"from {m} import *"
            for m in [
                "string",
                "re",
                "datetime",
                "collections",
                "heapq",
                "bisect",
                "copy",
                "math",
                "random",
                "statistics",
                "itertools",
                "functools",
                "operator",
                "io",
                "sys",
                "json",
                "builtins",
                "typing",
            ]
        ),
        "import string, re, datetime, collections, heapq, bisect, copy, math, random",
        "import statistics, itertools, functools, operator, io, sys, json",
        "sys.setrecursionlimit(50000)",
        "",
    ]
)
PER_TEST_S = 6.0  # LiveCodeBench's limit per test
MAX_TOTAL_S = 120.0  # all of one program's tests, at most
STDOUT_CAP = 1 << 20  # bytes of stdout kept per test, at least
ENTRY = "thinkbench_entry"


class GoldError(ValueError):
    """A program task's gold that no program can be judged against."""


def is_program_gold(spec: dict[str, Any]) -> bool:
    return isinstance(spec.get("tests"), list)


def mode(spec: dict[str, Any]) -> str:
    """'functional' or 'stdin' (every test of a problem has one kind)."""
    kinds = {str(t.get("testtype") or "") for t in spec["tests"] if isinstance(t, dict)}
    if "functional" in kinds or (spec.get("fn_name") and not kinds - {""}):
        return "functional"
    return "stdin"


def check_gold(spec: dict[str, Any]) -> None:
    """GoldError (one line) unless `spec` is a program task's gold we can judge."""
    tests = spec.get("tests")
    if not isinstance(tests, list) or not tests:
        raise GoldError("its gold has no tests (a list of {input, output, testtype})")
    for number, test in enumerate(tests, 1):
        if not (isinstance(test, dict) and isinstance(test.get("input"), str)):
            raise GoldError(f"test {number} is not an object with string input and output")
        if not isinstance(test.get("output"), str):
            raise GoldError(f"test {number} is not an object with string input and output")
    if mode(spec) == "functional":
        name = spec.get("fn_name")
        if not (isinstance(name, str) and name.isidentifier()):
            raise GoldError(f"a functional task needs fn_name, an identifier (it has {name!r})")
        for number, test in enumerate(tests, 1):
            try:
                functional_case(test)
            except ValueError as exc:
                raise GoldError(f"test {number} is not JSON, one value a line: {exc}") from None
    limit = spec.get("time_limit_s")
    if limit is not None and not (isinstance(limit, int | float) and 0 < limit <= 60):
        raise GoldError(f"time_limit_s must be a number of seconds in (0, 60] (it is {limit!r})")


def _total_s(per_test: float, tests: int, timeout_s: float) -> float:
    """The limit over all of a program's tests: LiveCodeBench's (each test's
    limit and a second, plus 5 s), at least the grader's, at most MAX_TOTAL_S."""
    return max(timeout_s, min((per_test + 1.0) * tests + 5.0, MAX_TOTAL_S))


# --- comparing outputs (stdin) ---------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _numbers(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(item) for item in line.split()]
    except (InvalidOperation, ValueError):
        return None


def same_output(got: str, expected: str) -> bool:
    """LiveCodeBench's stdout rule (see the module docstring)."""
    ours, theirs = _lines(got), _lines(expected)
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if a == b:
            continue
        x, y = _numbers(a), _numbers(b)
        try:
            if x is None or y is None or x != y:
                return False
        except InvalidOperation:  # a signalling NaN cannot be compared
            return False
    return True


# --- stdin programs ---------------------------------------------------------------


def _quote(text: str, chars: int = 60) -> str:
    return repr(text if len(text) <= chars else text[:chars] + "...")


def _judge_run(run: ProgramRun, expected: str) -> tuple[str, str] | None:
    """(status, kind) of a failed test, None when it passed."""
    code = run.returncode
    last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    if run.timed_out or code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout", "time limit"
    if run.overflowed:  # stopped at the cap, whatever it was doing then
        return "failed", "wrong answer (output over the cap)"
    if code:
        if "MemoryError" in last:
            return "crashed", "memory limit"
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            return "crashed", f"crashed (signal {number})"
        return "error", "runtime error" + (f" ({last[:120]})" if last else "")
    if not same_output(run.stdout, expected):
        got = run.stdout.strip()
        return "failed", f"wrong answer (expected {_quote(expected.strip())}, got {_quote(got)})"
    return None


def check_stdin(program: str, spec: dict[str, Any], timeout_s: float) -> TestResult:
    tests = spec["tests"]
    per_test = float(spec.get("time_limit_s") or PER_TEST_S)
    total = _total_s(per_test, len(tests), timeout_s)
    started = time.monotonic()
    tool = ""
    with program_runner(PREAMBLE + program) as run_one:
        for number, test in enumerate(tests, 1):
            left = total - (time.monotonic() - started)
            if left <= 0:
                line = f"time limit on test {number} of {len(tests)} (all tests: {total:g} s)"
                return TestResult(False, "timeout", time.monotonic() - started, "", line, tool)
            cap = max(STDOUT_CAP, 4 * len(test["output"]))
            run = run_one(test["input"], min(per_test, left), cap)
            tool = run.isolation
            if not run.started:
                line = f"the program's sandbox did not start ({tool}): {run.stderr.strip()[-200:]}"
                return TestResult(False, SANDBOX_ERROR, run.seconds, "", line, tool)
            failed = _judge_run(run, test["output"])
            if failed:
                status, kind = failed
                line = f"{kind} on test {number} of {len(tests)}"
                if status == "timeout" and left < per_test:  # stopped by what was left of the total
                    line += f" (all tests: {total:g} s)"
                stderr = "\n".join(p for p in (run.stderr.strip()[-2000:], line) if p)
                seconds = time.monotonic() - started
                return TestResult(False, status, seconds, run.stdout[:2000], stderr, tool)
    return TestResult(True, "passed", time.monotonic() - started, "", "", tool)


# --- functional programs ----------------------------------------------------------


def functional_case(test: dict[str, Any]) -> tuple[list[Any], Any]:
    """(arguments, expected value) of a functional test: one JSON value per
    input line (LiveCodeBench's layout), the output one JSON value."""
    args = [json.loads(line) for line in test["input"].split("\n")]
    return args, json.loads(test["output"])


_FUNCTIONAL_TEST = """import json
_CASES = json.loads({cases!r})


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {{key: _plain(item) for key, item in value.items()}}
    return value


def check(candidate):
    total = len(_CASES)
    for number, (args, expected) in enumerate(_CASES, 1):
        try:
            got = candidate(*args)
        except Exception as exc:
            raise RuntimeError(
                f"runtime error on test {{number}} of {{total}} ({{type(exc).__name__}}: {{exc}})"
            ) from None
        assert _plain(got) == expected, (
            f"wrong answer on test {{number}} of {{total}} "
            f"(expected {{str(expected)[:60]!r}}, got {{str(_plain(got))[:60]!r}})"
        )
"""

# Appended to the program (the untrusted side): which callable a test calls.
_ENTRY = """

def {entry}(*args):
    owner = globals().get("Solution")
    if isinstance(owner, type):
        return getattr(owner(), {name!r})(*args)
    return globals()[{name!r}](*args)
"""


def check_functional(program: str, spec: dict[str, Any], timeout_s: float) -> TestResult:
    cases = [functional_case(test) for test in spec["tests"]]
    test = _FUNCTIONAL_TEST.format(cases=json.dumps(cases))
    entry = _ENTRY.format(entry=ENTRY, name=spec["fn_name"])
    per_test = float(spec.get("time_limit_s") or PER_TEST_S)
    limit = _total_s(per_test, len(cases), timeout_s)
    result = run_tests(PREAMBLE + program + entry, test, ENTRY, timeout_s=limit)
    if result.status == "timeout":
        line = f"time limit (all {len(cases)} tests: {limit:g} s)"
        return TestResult(False, "timeout", result.seconds, result.stdout, line, result.isolation)
    if result.status == "error" and "runtime error on test" in result.detail:
        line = result.detail[result.detail.index("runtime error on test") :]
        return TestResult(False, "error", result.seconds, result.stdout, line, result.isolation)
    if result.status == "error":  # it did not load, or defined nothing to call
        line = f"runtime error on test 1 of {len(cases)} ({result.detail[:200]})"
        return TestResult(False, "error", result.seconds, result.stdout, line, result.isolation)
    if result.status == "failed" and "wrong answer on test" in result.detail:
        line = result.detail[result.detail.index("wrong answer on test") :]
        return TestResult(False, "failed", result.seconds, result.stdout, line, result.isolation)
    return result


def check_program(program: str, spec: dict[str, Any], timeout_s: float) -> TestResult:
    """Judge `program` on a program task's tests; never raises."""
    try:
        check_gold(spec)
    except GoldError as exc:
        return TestResult(False, "error", 0.0, "", f"the task's gold is unusable: {exc}")
    if mode(spec) == "functional":
        return check_functional(program, spec, timeout_s)
    return check_stdin(program, spec, timeout_s)
