"""Exact numeric match of the number the answer gives.

The answer text starts at the end-of-thinking delimiter ("Final answer:"), so
its first number is the model's answer; later numbers are usually the model
restating or rambling. One exception: an answer that is a worked equation
("4 + 3 = 7") gives its result after the first "=".
"""

from __future__ import annotations

import re
from fractions import Fraction

from bench.types import Grade

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _parse(text: str) -> Fraction | None:
    cleaned = text.replace(",", "").strip()
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def extract_number(text: str) -> str | None:
    first_line = text.strip().split("\n", 1)[0]
    if "=" in first_line:
        result = _first_number(first_line.split("=", 1)[1])
        if result is not None:
            return result
    return _first_number(text)


def _first_number(text: str) -> str | None:
    for match in _NUMBER.finditer(text):
        token = match.group(0).rstrip(",")
        # "1,234" is one number; "3, 4" is two: a comma must be followed by three digits.
        if "," in token and not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", token):
            token = token.split(",")[0]
        if _parse(token) is not None:
            return token.replace(",", "")
    return None


def check(item: tuple[str, str, float]) -> bool:
    """(extracted, gold, timeout_s) -> equal as exact numbers."""
    extracted, gold, _ = item
    expected = _parse(gold)
    return expected is not None and _parse(extracted) == expected


def grade(answer_text: str, gold: str) -> Grade:
    extracted = extract_number(answer_text)
    if extracted is None:
        return Grade(correct=False, extracted=None)
    return Grade(correct=check((extracted, gold, 0.0)), extracted=extracted)


def classes(item: tuple[list[str | None], float]) -> list[int]:
    """Voting classes: answers with the same exact value share one; None gets -1."""
    answers, _ = item
    ids: dict[Fraction, int] = {}
    labels = []
    for answer in answers:
        value = _parse(answer) if answer else None
        labels.append(-1 if value is None else ids.setdefault(value, len(ids)))
    return labels
