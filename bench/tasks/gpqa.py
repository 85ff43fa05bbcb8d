"""GPQA (Diamond) rows as four-option multiple-choice problems.

A row holds Question, Correct Answer, Incorrect Answer 1..3, High-level
domain and Record ID (the CSV's and the hub's names). The four options are
shuffled per problem by a seeded generator keyed on the task's seed and the
row's Record ID, so the right letter is uniform over A-D, the same on every
run and every machine, and recorded in the problem's meta (options,
answer_index, shuffle_seed). The set is gated on the hub: a token is read
from the environment variable the task names (never written anywhere), or
point suite.path (CSV, parquet or JSONL) at a local copy.
"""

from __future__ import annotations

import random
from typing import Any

from bench.tasks.rows import LoadError

LETTERS = "ABCD"
QUESTION = "Question"
CORRECT = "Correct Answer"
INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
DOMAIN = "High-level domain"
RECORD_ID = "Record ID"
FIELDS = (QUESTION, CORRECT, *INCORRECT)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN from a CSV
        return ""
    return str(value).strip()


def shuffled(row: dict[str, Any], seed: int, key: str) -> tuple[list[str], int]:
    """(the four options in this problem's order, the index of the right one)."""
    options = [_text(row[CORRECT]), *(_text(row[name]) for name in INCORRECT)]
    order = list(range(4))
    random.Random(f"gpqa:{seed}:{key}").shuffle(order)
    return [options[i] for i in order], order.index(0)


def problem_fields(row: dict[str, Any], index: int, seed: int) -> dict[str, Any]:
    """Problem fields (problem_id, question, gold, subject, meta) of a row."""
    empty = [name for name in FIELDS if not _text(row.get(name))]
    if empty:
        raise LoadError(f"field(s) {empty} are missing or empty")
    key = _text(row.get(RECORD_ID)) or f"row-{index:05d}"
    options, right = shuffled(row, seed, key)
    lines = [_text(row[QUESTION]), ""] + [f"{LETTERS[i]}) {text}" for i, text in enumerate(options)]
    return {
        "problem_id": key,
        "question": "\n".join(lines),
        "gold": LETTERS[right],
        "subject": _text(row.get(DOMAIN)),
        "meta": {
            "options": options,
            "answer_index": right,
            "shuffle_seed": f"gpqa:{seed}:{key}",
            "subdomain": _text(row.get("Subdomain")),
        },
    }
