"""Graders: find the answer in an attempt's answer text, then check it
against the gold answer.

A grader sees only the answer part of an attempt (the text after the end of
thinking), never the thinking, so reasoning that mentions other numbers
cannot be mistaken for the answer. Extraction is string work done where the
rows are; checks that may be slow or hang (symbolic math, running code) run
in worker processes under a hard deadline (pool.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.grading.code import grade as code
from bench.grading.math import equivalence as math_equivalence
from bench.grading.math import grade as math_grader
from bench.grading.math import numeric
from bench.grading.math import text as math_text


@dataclass(frozen=True)
class Grader:
    name: str
    extract: Callable[[str], str | None]
    # Module-level function of (extracted, gold, timeout_s) -> bool, so it can
    # run in a worker process.
    check: Callable[[Any], bool]
    # Module-level function of (answers, timeout_s) -> a voting class per
    # answer (equivalent answers share one; no answer gets -1).
    classes: Callable[[Any], list[int]]
    # Cheap, bounded checks run in the calling process; others go to workers.
    in_process: bool = False
    preload: tuple[str, ...] = ()
    # Graders that bound their own checks (the code sandbox) run a whole batch
    # in parallel themselves: (items, timeout_s) -> results, each with
    # `passed`, `status` (how the run ended) and `detail` (a short why).
    batch: Callable[[list[Any], float], list[Any]] | None = None
    # The status of an attempt with no answer to check (code: "no_code");
    # None for graders that keep no status.
    no_answer_status: str | None = None
    # The statuses that are a verdict on the attempt (others, and none, are
    # re-graded by `bench grade --unjudged`); empty for graders that keep none.
    verdict_statuses: tuple[str, ...] = ()
    # Raises (one line) when this grader cannot give verdicts here (the code
    # sandbox's control programs); run before a sweep starts its engine.
    preflight: Callable[[], None] | None = None


def preflight(names: set[str]) -> None:
    """Check that every named grader can give verdicts on this machine."""
    for name in sorted(names):
        check = get_grader(name).preflight
        if check is not None:
            check()


GRADERS: dict[str, Grader] = {
    "numeric": Grader(
        "numeric", numeric.extract_number, numeric.check, numeric.classes, in_process=True
    ),
    "math": Grader(
        "math",
        math_grader.extract_answer,
        math_equivalence.check_pair,
        math_equivalence.classes,
        preload=math_grader.PRELOAD,
    ),
    # Tasks with `multiple_choice: true`: the choice letter, compared as a letter.
    "math_choice": Grader(
        "math_choice",
        math_text.extract_choice,
        math_equivalence.check_choice_pair,
        math_equivalence.choice_classes,
        in_process=True,
    ),
    "code": Grader(
        "code",
        code.extract,
        code.check,
        code.classes,
        in_process=True,
        batch=code.check_many,
        no_answer_status="no_code",
        verdict_statuses=(*code.VERDICTS, "no_code"),
        preflight=code.check_sandbox,
    ),
}


def verdict_statuses() -> dict[str, tuple[str, ...]]:
    """grader -> the statuses that judge an attempt, for graders that keep one."""
    return {g.name: g.verdict_statuses for g in GRADERS.values() if g.verdict_statuses}


def get_grader(name: str) -> Grader:
    try:
        return GRADERS[name]
    except KeyError:
        raise ValueError(
            f"grader {name!r} is not known; choose one of: {', '.join(GRADERS)}"
        ) from None
