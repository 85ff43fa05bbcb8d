"""The columns each kind of stored part holds, with their types, and the
check the store runs on every row it writes: a value of the wrong type (a
budget written as "16", a verdict as "yes") is refused before it reaches a
part, where every later read would trip over it.

A row may leave columns out (a part written by an older version, a test's
minimal row) and may carry columns of its own; a column named here must hold
its type. Types: str, int, float, bool, list (of numbers); a trailing "?"
allows None (NaN, as pandas writes a missing value, counts as None).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


class RowTypeError(ValueError):
    """A row handed to the store holds a value of the wrong type (a bug in
    the writer, or a hand-built row): the message names the column."""


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_int(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, numbers.Integral):
        return True
    # pandas keeps an int column with a missing value as float (12.0).
    return isinstance(value, float) and value.is_integer()


def _is_float(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


_NAMES = {
    "str": "a string", "int": "an integer", "float": "a number",
    "bool": "a boolean", "list": "a list of numbers",
}  # fmt: skip
_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": _is_float,
    "bool": lambda v: isinstance(v, bool | np.bool_),
    "list": lambda v: isinstance(v, list | tuple | np.ndarray) and all(_is_float(x) for x in v),
}


class PartSchema:
    """One kind of stored part: its columns and their types."""

    def __init__(self, kind: str, columns: Mapping[str, str]) -> None:
        for name, declared in columns.items():
            if declared.rstrip("?") not in _CHECKS:
                raise ValueError(f"{kind} column {name!r}: unknown type {declared!r}")
        self.kind = kind
        self.columns = dict(columns)

    def __iter__(self):
        return iter(self.columns)

    def __getitem__(self, name: str) -> str:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def items(self):
        return self.columns.items()

    def problem(self, row: Mapping[str, Any]) -> str | None:
        """What is wrong with one row, in a few words; None when nothing is."""
        key = row.get("key")
        if not isinstance(key, str) or not key:
            return f"'key' is {key!r}, not a record key"
        for name, value in row.items():
            declared = self.columns.get(name)
            if declared is None:
                continue
            base, nullable = declared.rstrip("?"), declared.endswith("?")
            if _is_missing(value):
                if not nullable:
                    return f"{name!r} is {value!r}, not {_NAMES[base]}"
            elif not _CHECKS[base](value):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                return f"{name!r} is a {type(value).__name__} ({shown}), not {_NAMES[base]}"
        return None

    def check(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """RowTypeError naming the first row and column of the wrong type."""
        for index, row in enumerate(rows):
            problem = self.problem(row)
            if problem is not None:
                raise RowTypeError(f"{self.kind} row {index} not stored: {problem}")


# Every stored column's name, for the code that reads records: a misspelt
# name is an undefined name (ruff F821) instead of a KeyError at run time.
# The part schemas below are written with them.
KEY = "key"
MODEL = "model"
TASK = "task"
PROBLEM_ID = "problem_id"
DIFFICULTY = "difficulty"
SUBJECT = "subject"
STRATEGY = "strategy"
BUDGET = "budget"
SAMPLE = "sample"
REPEAT = "repeat"
PROMPT_TOKENS = "prompt_tokens"
THINKING_TOKENS = "thinking_tokens"
ANSWER_TOKENS = "answer_tokens"
ENGINE_TOKENS = "engine_tokens"
TOKEN_SOURCE = "token_source"
EXTENSIONS = "extensions"
DISCARDED_TOKENS = "discarded_tokens"
VERIFIER_SCORE = "verifier_score"
VERIFIER_TOKENS = "verifier_tokens"
SEARCH_TOKENS = "search_tokens"
SEARCH_VERIFIER_TOKENS = "search_verifier_tokens"
SEARCH_VERIFIER_SECONDS = "search_verifier_seconds"
SEARCH_SCORE = "search_score"
HIT_BUDGET = "hit_budget"
FINISH = "finish"
SECONDS = "seconds"
GOLD = "gold"
THINKING_TEXT = "thinking_text"
ANSWER_TEXT = "answer_text"
GRADER = "grader"
ANSWER = "answer"
CORRECT = "correct"
VOTE_CLASS = "vote_class"
CORRECT_IN_THINKING = "correct_in_thinking"
STATUS = "status"
DETAIL = "detail"
VERIFIER = "verifier"
VERIFIER_STEP_SCORES = "verifier_step_scores"
VERIFIER_SECONDS = "verifier_seconds"


# The columns a generation part holds.
GENERATION = PartSchema(
    "generation",
    {
        KEY: "str",
        MODEL: "str",  # the model's name (" (non-thinking)" for that mode)
        TASK: "str",
        PROBLEM_ID: "str",
        DIFFICULTY: "str",
        SUBJECT: "str",
        STRATEGY: "str",
        BUDGET: "int",  # thinking tokens allowed (0: none)
        SAMPLE: "int",
        REPEAT: "int",  # which seed (repeats=R): 0 .. R-1
        PROMPT_TOKENS: "int",
        THINKING_TOKENS: "int",
        ANSWER_TOKENS: "int",
        ENGINE_TOKENS: "int?",  # the engine's own count of prompt + answer, where it gives one
        TOKEN_SOURCE: "str",
        EXTENSIONS: "int",  # "Wait" extensions inside the kept thinking
        DISCARDED_TOKENS: "int",
        VERIFIER_SCORE: "float?",
        VERIFIER_TOKENS: "int",
        # A search's share per attempt (strategies/search.py); 0 for other strategies.
        SEARCH_TOKENS: "int",
        SEARCH_VERIFIER_TOKENS: "int",
        SEARCH_VERIFIER_SECONDS: "float",
        SEARCH_SCORE: "float?",
        HIT_BUDGET: "bool",
        FINISH: "str",  # natural | cut | no_delimiter | no_thinking
        SECONDS: "float",  # engine time apportioned to this attempt
        GOLD: "str",
        THINKING_TEXT: "str",
        ANSWER_TEXT: "str",
    },
)
# The columns a grade part holds (the latest grade of a key wins).
GRADE = PartSchema(
    "grade",
    {
        KEY: "str",
        GRADER: "str",
        ANSWER: "str?",  # what the grader extracted (None: no answer)
        CORRECT: "bool",
        VOTE_CLASS: "int",  # equivalence class among the samples of one vote (-1: none)
        CORRECT_IN_THINKING: "bool?",  # cut chains: the last answer inside the thinking
        # How the check ended, where the grader keeps it (code: the sandbox's
        # passed | failed | timeout | error | crashed, or no_code; None: no status).
        STATUS: "str?",
        DETAIL: "str?",  # a short why (the sandbox's last error line), bounded
    },
)
# The columns a verification part holds: a reward model's scores of stored
# attempts (they replace the generation's own verifier_score when read).
VERIFICATION = PartSchema(
    "verification",
    {
        KEY: "str",
        VERIFIER: "str",
        VERIFIER_SCORE: "float?",
        VERIFIER_STEP_SCORES: "list",
        VERIFIER_TOKENS: "int",
        VERIFIER_SECONDS: "float",
    },
)
