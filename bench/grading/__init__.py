"""Graders: (answer text, gold) -> Grade. Pure functions, cheap to import,
so they can run in worker processes.

A grader sees only the answer part of an attempt (the text after the end of
thinking), never the thinking, so reasoning that mentions other numbers
cannot be mistaken for the answer.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.grading import numeric
from bench.types import Grade

GRADERS: dict[str, Callable[[str, str], Grade]] = {
    "numeric": numeric.grade,
}


def get_grader(name: str) -> Callable[[str, str], Grade]:
    try:
        return GRADERS[name]
    except KeyError:
        raise ValueError(
            f"grader {name!r} is not known; choose one of: {', '.join(GRADERS)}"
        ) from None
