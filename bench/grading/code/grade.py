"""The code grader: take the program out of an answer, run the task's unit
tests on it in the sandbox (sandbox.py).

Only the answer part of an attempt is read, so code the model wrote while
thinking is never executed. The gold answer of a code task is a JSON object:
assert style (HumanEval, MBPP): the task's `test`, `entry_point`, `prompt`
(for HumanEval-style continuations) and `imports` (MBPP's test imports);
program style (LiveCodeBench): `tests` with stdin or functional test cases
(programs.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from bench.grading.code import programs
from bench.grading.sandbox.execute import check_sandbox, isolation, run_many, run_tests
from bench.grading.sandbox.outcome import SANDBOX_ERROR, VERDICTS, SandboxError, TestResult

__all__ = [
    "VERDICTS",
    "SandboxError",
    "TestResult",
    "check",
    "check_many",
    "check_sandbox",
    "classes",
    "extract_code",
    "isolation",
    "run_many",
    "run_tests",
]

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
# The answer cue and the end of its line, but not the next line's indentation.
_CUE = re.compile(r"^\s*(?:final answer|answer)[ \t]*:?[ \t]*\n?", re.IGNORECASE)
_CODE_START = re.compile(r"^(?:def |class |import |from |@|async def )")


def _unfenced(text: str) -> str:
    """Code written without a fence: drop the answer cue and prose lines before
    the first line that looks like code; stop at prose after it."""
    lines = _CUE.sub("", text, count=1).splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if _CODE_START.match(line) or line.startswith((" ", "\t"))
        ),
        None,
    )
    if start is None:
        return ""
    kept = []
    for line in lines[start:]:
        if line.lstrip().startswith("```"):
            break  # the end of a block whose opening fence was cut off
        prose = (
            line
            and not line[0].isspace()
            and not _CODE_START.match(line)
            and (
                line.rstrip().endswith(".") and " " in line and "=" not in line and "(" not in line
            )
        )
        if prose:
            break
        kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def extract_code(answer_text: str, prompt: str = "") -> str:
    """The program an answer gives: its last complete fenced Python block (or
    the code after the answer cue), completed from `prompt` where it is a
    HumanEval-style continuation of the function the prompt starts."""
    if not isinstance(answer_text, str):
        return ""
    blocks = _FENCE.findall(answer_text)
    code = blocks[-1] if blocks else _unfenced(answer_text)
    if not code.strip():
        return ""
    standalone = any(_CODE_START.match(line) for line in code.splitlines())
    if standalone:
        # Keep the prompt's imports (typing.List and friends) for a full definition.
        imports = [line for line in prompt.splitlines() if re.match(r"(?:import|from) \w", line)]
        return "\n".join([*imports, code]) if imports else code
    return prompt + code


def _is_python(text: str) -> bool:
    try:
        compile(text, "prompt", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _job(code: str, gold: str) -> tuple[str, str, str | None, str]:
    """(program, test, entry point, prelude) for the sandbox, from an answer's
    code and the task's gold. The prelude is the task's own code that the
    tests may use (its test imports; a HumanEval prompt with its helpers): it
    runs with the tests, on the trusted side, where the program cannot
    replace it."""
    spec = json.loads(gold)
    prompt = spec.get("prompt") or ""
    program = extract_code(code, prompt)
    imports = "\n".join(spec.get("imports") or [])
    prelude = "\n".join(part for part in (imports, prompt if _is_python(prompt) else "") if part)
    return (
        (imports + "\n" + program) if imports else program,
        spec["test"],
        spec.get("entry_point") or None,
        prelude,
    )


def _run(code: str, gold: str, timeout_s: float) -> Callable[[], TestResult]:
    """The sandbox run that judges an answer's code against a task's gold."""
    spec = json.loads(gold)
    if programs.is_program_gold(spec):
        return partial(programs.check_program, extract_code(code), spec, timeout_s)
    program, test, entry_point, prelude = _job(code, gold)
    return partial(run_tests, program, test, entry_point, timeout_s=timeout_s, prelude=prelude)


def check(item: tuple[str, str, float]) -> bool:
    """Grader entry point: (answer code, gold JSON, timeout_s) -> all tests pass."""
    code, gold, timeout_s = item
    return _run(code, gold, timeout_s)().passed


# HumanEval/MBPP reference solutions need up to ~2.5 CPU seconds (MBPP 123).
MIN_TIMEOUT_S = 10.0


def check_many(items: list[tuple[str, str, float]], timeout_s: float) -> list[TestResult]:
    """Grader batch entry point: every check in parallel, one sandbox per core.
    The sandbox enforces its own limits, so no worker deadline is needed.

    Raises SandboxError (one line) when the sandbox fails its control or any
    run's sandbox did not start: a broken sandbox grades nothing, so no
    `crashed` verdict ever stands for a sandbox that could not run."""
    if not items:
        return []
    check_sandbox()
    timeout_s = max(timeout_s, MIN_TIMEOUT_S)
    runs = [_run(code, gold, timeout_s) for code, gold, _ in items]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda run: run(), runs))
    broken = [r for r in results if r.status == SANDBOX_ERROR]
    if broken:
        raise SandboxError(
            f"{broken[0].detail} ({len(broken)} of {len(results)} runs); "
            "no code verdict of this batch was stored"
        )
    return results


def extract(answer_text: str) -> str | None:
    """What the grader keeps of an answer: the code part (joined with the prompt
    at check time, where the task's gold is known)."""
    blocks = _FENCE.findall(answer_text or "")
    code = blocks[-1] if blocks else _unfenced(answer_text or "")
    return code if code.strip() else None


def classes(item: tuple[list[str | None], float]) -> list[int]:
    """Voting classes for code: the same program text (whitespace-normalised)."""
    answers, _ = item
    ids: dict[str, int] = {}
    return [
        -1 if not a else ids.setdefault(re.sub(r"\s+", " ", a).strip(), len(ids)) for a in answers
    ]
