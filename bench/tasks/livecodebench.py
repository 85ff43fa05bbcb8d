"""LiveCodeBench's release files (code_generation_lite) as problems.

A row holds question_title, question_content, platform, question_id,
contest_id, contest_date, starter_code, difficulty, public_test_cases (JSON),
private_test_cases and metadata (JSON; func_name for LeetCode-style
problems). Private tests arrive as base64 of zlib of a *pickle* of a JSON
string. The reference code calls pickle.loads on them, which runs whatever
the file says; here a restricted unpickler accepts only the plain string
that should be there and refuses anything else (a class, a function, a
reduce), with one line naming the row.

Versions follow the release files: release_vN is test.jsonl .. testN.jsonl,
vN that file alone, vN_vM files N..M, release_latest every file present.
A contest-date window (suite.after <= date < suite.before, ISO dates) is the
contamination control: only problems published after a model's data cut.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import re
import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench.tasks.rows import LoadError

PROMPT_SYSTEM = (
    "You are an expert Python programmer. You will be given a question (problem "
    "specification) and will generate a correct Python program that matches the "
    "specification and passes all tests."
)
FORMAT_STARTER = (
    "### Format: You will use the following starter code to write the solution to the "
    "problem and enclose your code within delimiters.\n```python\n{starter}\n```"
)
FORMAT_STDIN = (
    "### Format: Read the inputs from stdin solve the problem and write the answer to "
    "stdout (do not directly test on the sample inputs). Enclose your code within "
    "delimiters as follows. Ensure that when the python program runs, it reads the "
    "inputs, runs the algorithm and writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```"
)
MAX_PRIVATE_BYTES = 512 << 20  # decompressed private tests of one problem, at most
FIELDS = ("question_id", "question_content", "public_test_cases", "private_test_cases")


# --- private tests: never unpickle anything but a string ------------------------------


class _PlainStrings(pickle.Unpickler):
    """An unpickler that builds no object of any class: every global lookup
    (the way a pickle names a class or function to call) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise LoadError(f"it names {module}.{name}, and only a plain string may be unpickled")

    def persistent_load(self, pid: Any) -> Any:
        raise LoadError("it holds a persistent id, and only a plain string may be unpickled")


def decode_private(text: Any) -> list[dict[str, Any]]:
    """Private test cases from their release encoding (or plain JSON, which the
    reference code also accepts)."""
    if isinstance(text, list):
        return _check_tests(text)
    if not isinstance(text, str) or not text.strip():
        return []
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return _check_tests(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise LoadError(f"private_test_cases is not JSON ({exc.msg})") from None
    try:
        packed = base64.b64decode(stripped, validate=True)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(packed, MAX_PRIVATE_BYTES)
        if inflate.unconsumed_tail:
            raise LoadError(f"private_test_cases inflate past {MAX_PRIVATE_BYTES >> 20} MiB")
    except (binascii.Error, zlib.error) as exc:
        raise LoadError(f"private_test_cases is not base64 of zlib data ({exc})") from None
    try:
        value = _PlainStrings(io.BytesIO(raw)).load()
    except LoadError as exc:
        raise LoadError(f"private_test_cases refused: {exc}") from None
    except Exception as exc:  # truncated or malformed pickle data
        raise LoadError(f"private_test_cases is not a pickle ({type(exc).__name__})") from None
    if not isinstance(value, str):
        raise LoadError(
            f"private_test_cases refused: it unpickles to a {type(value).__name__}, "
            "and only a plain string may"
        )
    try:
        return _check_tests(json.loads(value))
    except json.JSONDecodeError as exc:
        raise LoadError(f"private_test_cases holds a string that is not JSON ({exc.msg})") from None


def _check_tests(tests: Any) -> list[dict[str, Any]]:
    if not isinstance(tests, list):
        raise LoadError(f"test cases are a {type(tests).__name__}, not a list")
    for number, test in enumerate(tests, 1):
        if not (
            isinstance(test, dict)
            and isinstance(test.get("input"), str)
            and isinstance(test.get("output"), str)
        ):
            raise LoadError(f"test case {number} is not an object with string input and output")
    return [
        {"input": t["input"], "output": t["output"], "testtype": str(t.get("testtype") or "stdin")}
        for t in tests
    ]


def encode_private(tests: list[dict[str, Any]]) -> str:
    """The release encoding of private tests (for our own suites' files)."""
    packed = pickle.dumps(json.dumps(tests), protocol=4)
    return base64.b64encode(zlib.compress(packed)).decode()


# --- versions and dates -----------------------------------------------------------


def version_files(folder: Path, version: str | None) -> list[Path]:
    """The release files a version names, in order."""
    found = {}
    for path in folder.glob("test*.jsonl"):
        match = re.fullmatch(r"test(\d*)\.jsonl", path.name)
        if match:
            found[int(match.group(1) or 1)] = path
    if not found:
        raise LoadError(f"{folder} holds no test*.jsonl release files")
    tag = version or "release_latest"
    if tag == "release_latest":
        numbers = sorted(found)
    elif m := re.fullmatch(r"release_v(\d+)", tag):
        numbers = list(range(1, int(m.group(1)) + 1))
    elif m := re.fullmatch(r"v(\d+)", tag):
        numbers = [int(m.group(1))]
    elif m := re.fullmatch(r"v(\d+)_v(\d+)", tag):
        numbers = list(range(int(m.group(1)), int(m.group(2)) + 1))
    else:
        raise LoadError(
            f"suite.version={tag!r} is not a release; use release_latest, release_vN, vN or vN_vM"
        )
    missing = [n for n in numbers if n not in found]
    if missing:
        names = ", ".join("test.jsonl" if n == 1 else f"test{n}.jsonl" for n in missing)
        raise LoadError(f"version {tag} needs {names}, which {folder} lacks")
    return [found[n] for n in numbers]


def parse_day(value: Any, what: str) -> date:
    """An ISO date (2024-08-01) or date-time, as a date; LoadError otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).date()
    except ValueError:
        raise LoadError(f"{what}={value!r} is not an ISO date such as 2024-08-01") from None


def in_window(day: date, after: date | None, before: date | None) -> bool:
    return (after is None or day >= after) and (before is None or day < before)


# --- rows to problems -----------------------------------------------------------


def question_text(row: dict[str, Any]) -> str:
    """LiveCodeBench's own prompt body: the question and the answer format."""
    starter = str(row.get("starter_code") or "")
    fmt = FORMAT_STARTER.format(starter=starter) if starter.strip() else FORMAT_STDIN
    return f"### Question:\n{row['question_content']}\n\n{fmt}"


def gold_of(row: dict[str, Any]) -> dict[str, Any]:
    """The code grader's gold for a row: every test, public and private."""
    public = row.get("public_test_cases") or "[]"
    try:
        tests = _check_tests(json.loads(public) if isinstance(public, str) else public)
    except json.JSONDecodeError as exc:
        raise LoadError(f"public_test_cases is not JSON ({exc.msg})") from None
    tests += decode_private(row.get("private_test_cases"))
    if not tests:
        raise LoadError("it has no test cases")
    metadata = row.get("metadata") or "{}"
    try:
        meta = json.loads(metadata) if isinstance(metadata, str) else dict(metadata)
    except (json.JSONDecodeError, TypeError, ValueError):
        raise LoadError("metadata is not a JSON object") from None
    fn_name = meta.get("func_name") if isinstance(meta, dict) else None
    return {"tests": tests, "fn_name": fn_name or None}


def problems(
    task: str,
    rows: list[tuple[str, dict[str, Any]]],
    bad_row,
    after: date | None = None,
    before: date | None = None,
) -> list[dict[str, Any]]:
    """Problem fields of the rows inside the date window; a row that cannot be
    read goes to bad_row(message) (which stops the load or counts it)."""
    out = []
    for where, row in rows:
        absent = [name for name in FIELDS if name not in row]
        if absent:
            bad_row(f"{where}: lacks field(s) {absent}; it has {sorted(row)}")
            continue
        try:
            day = parse_day(row.get("contest_date"), "contest_date")
            if not in_window(day, after, before):
                continue
            gold = gold_of(row)
            if gold["fn_name"]:
                for test in gold["tests"]:
                    for line in test["input"].split("\n"):
                        json.loads(line)
        except json.JSONDecodeError as exc:
            bad_row(f"{where}: a functional test's input is not JSON ({exc.msg})")
            continue
        except LoadError as exc:
            bad_row(f"{where} (question {row.get('question_id')!r}): {exc}")
            continue
        out.append(
            {
                "problem_id": str(row["question_id"]),
                "question": question_text(row),
                "gold": json.dumps(gold, ensure_ascii=False),
                "difficulty": str(row.get("difficulty") or ""),
                "subject": str(row.get("platform") or ""),
                "meta": {
                    "title": str(row.get("question_title") or ""),
                    "contest_id": str(row.get("contest_id") or ""),
                    "contest_date": day.isoformat(),
                    "starter_code": str(row.get("starter_code") or ""),
                    "tests": len(gold["tests"]),
                },
            }
        )
    return out
