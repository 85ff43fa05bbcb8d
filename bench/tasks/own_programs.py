"""Our own program-style suites, built into LiveCodeBench's release schema.

tasks/programs/stdin.yaml and functional.yaml hold each problem's statement,
test inputs, a reference solution and a wrong one. This builds
tasks/programs/thinkbench-{stdin,functional}.jsonl in the code_generation_lite
schema (private tests encoded as the releases encode them: base64 of zlib of
a pickled JSON string), so the livecodebench loader, its restricted
unpickler and the code grader's program modes all run on them offline.
Expected outputs are the reference solution's, run here in a plain
subprocess (our own code); the wrong solution must differ on some test.

    python -m bench.tasks.own_programs    # rebuild both files
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.grading.code.programs import PREAMBLE
from bench.paths import PROJECT_ROOT
from bench.tasks.livecodebench import encode_private

FOLDER = PROJECT_ROOT / "tasks" / "programs"
KINDS = ("stdin", "functional")
PUBLIC_TESTS = 2  # shown in the statement; the rest are private
FIRST_DAY = {"stdin": date(2024, 5, 1), "functional": date(2024, 6, 15)}
DAYS_APART = {"stdin": 14, "functional": 21}

_CALL = """
import json, sys
_args = [json.loads(line) for line in sys.stdin.read().split("\\n")]
print(json.dumps(Solution().{name}(*_args)))
"""


def definitions(kind: str) -> list[dict[str, Any]]:
    return yaml.safe_load((FOLDER / f"{kind}.yaml").read_text())


def test_input(kind: str, value: Any) -> str:
    """A test's input as the release holds it (functional: one JSON value a line)."""
    return value if kind == "stdin" else "\n".join(json.dumps(arg) for arg in value)


def run_solution(kind: str, problem: dict[str, Any], code: str, stdin: str) -> str:
    """What a solution prints (stdin) or returns as JSON (functional)."""
    program = PREAMBLE + code + (_CALL.format(name=problem["fn_name"]) if kind != "stdin" else "")
    done = subprocess.run(
        [sys.executable, "-I", "-c", program],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode:
        return f"<exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}>"
    return done.stdout if kind == "stdin" else done.stdout.strip()


def _statement(kind: str, problem: dict[str, Any], tests: list[dict[str, str]]) -> str:
    text = problem["statement"].strip()
    for number, test in enumerate(tests[:PUBLIC_TESTS], 1):
        if kind == "stdin":
            text += f"\n\nSample Input {number}\n\n{test['input']}\nSample Output {number}\n\n{test['output']}"
        else:
            args = ", ".join(test["input"].split("\n"))
            text += f"\n\nExample {number}:\nInput: {args}\nOutput: {test['output']}"
    return text


def build_row(kind: str, index: int, problem: dict[str, Any]) -> dict[str, Any]:
    tests = []
    for value in problem["inputs"]:
        stdin = test_input(kind, value)
        output = run_solution(kind, problem, problem["reference"], stdin)
        if output.startswith("<exit"):
            raise SystemExit(f"{problem['id']}: the reference failed on {stdin!r}: {output}")
        tests.append({"input": stdin, "output": output, "testtype": kind})
    wrong = [run_solution(kind, problem, problem["wrong"], t["input"]) for t in tests]
    if all(w.strip() == t["output"].strip() for w, t in zip(wrong, tests, strict=True)):
        raise SystemExit(f"{problem['id']}: the wrong solution passes every test")
    starter = ""
    if kind == "functional":
        starter = (
            f"class Solution:\n    def {problem['fn_name']}(self, {problem['signature']}:\n        "
        )
    day = FIRST_DAY[kind] + timedelta(days=DAYS_APART[kind] * index)
    return {
        "question_title": problem["title"],
        "question_content": _statement(kind, problem, tests),
        "platform": "thinkbench",
        "question_id": problem["id"],
        "contest_id": f"thinkbench-{day:%Y-%m}",
        "contest_date": f"{day.isoformat()}T00:00:00",
        "starter_code": starter,
        "difficulty": problem["difficulty"],
        "public_test_cases": json.dumps(tests[:PUBLIC_TESTS]),
        "private_test_cases": encode_private(tests[PUBLIC_TESTS:]),
        "metadata": json.dumps({"func_name": problem["fn_name"]} if kind == "functional" else {}),
        # Ours only (a release has neither): the solutions the suite's tests run.
        "reference_solution": problem["reference"],
        "wrong_solution": problem["wrong"],
    }


def build(kind: str) -> Path:
    rows = [build_row(kind, i, p) for i, p in enumerate(definitions(kind))]
    out = FOLDER / f"thinkbench-{kind}.jsonl"
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return out


if __name__ == "__main__":
    for kind in KINDS:
        print(f"wrote {build(kind)}")
