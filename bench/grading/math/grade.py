"""The math grader's public face: find the answer, decide equivalence, group
answers for voting.

Every symbolic comparison runs in a worker process under a hard deadline
(workers.py), in parallel across cores; the calling process only does string
work. A comparison that passes its deadline, raises, or crashes its worker
counts as "not equal" and never reaches the sweep as an exception.
"""

from __future__ import annotations

from collections.abc import Callable

# math_equivalence imports sympy only inside its functions, so this import is cheap.
from bench.grading.math.equivalence import check_pair, classes
from bench.grading.math.text import canonical, extract_answer, multiple_choice_letter
from bench.grading.runtime.workers import HardTimeoutPool, shared_pool

__all__ = [
    "answer_classes",
    "canonical",
    "equivalent",
    "equivalent_many",
    "extract_answer",
    "multiple_choice_letter",
]

PRELOAD = ("bench.grading.math.equivalence", "math_verify", "sympy")
DEFAULT_TIMEOUT_S = 5.0


def _pool(pool: HardTimeoutPool | None) -> HardTimeoutPool:
    return pool if pool is not None else shared_pool(PRELOAD)


def equivalent_many(
    pairs: list[tuple[str, str]],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pool: HardTimeoutPool | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[bool]:
    """equivalent(pred, gold) for many (pred, gold) pairs, in parallel."""
    items = []
    for pred, gold in pairs:
        items.append(
            (
                pred if isinstance(pred, str) else "",
                gold if isinstance(gold, str) else "",
                timeout_s,
            )
        )
    return _pool(pool).map(check_pair, items, timeout_s, default=False, progress=progress)


def equivalent(pred: str, gold: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when `pred` is the same mathematical answer as `gold`: numbers in any
    spelling, fractions, roots, pi, percentages, repeating decimals, mixed
    numbers, tuples and intervals (order and brackets matter), sets (order does
    not), matrices, "x = 5" for 5, labelled solution sets, plain-text math,
    text answers, units and degree signs ignored (multiple-choice letters only
    through the math_choice grader). False, never an exception, for anything unparseable;
    at most `timeout_s` of work."""
    return equivalent_many([(pred, gold)], timeout_s)[0]


def answer_classes(
    answer_lists: list[list[str | None]],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pool: HardTimeoutPool | None = None,
) -> list[list[int]]:
    """For each list of answers (one problem's samples), a class index per
    answer: equivalent answers share an index (what majority voting counts);
    None gets -1. A list whose grouping passes its deadline is grouped by
    canonical spelling only."""
    items = [(list(answers), timeout_s) for answers in answer_lists]
    # One job per list: allow one comparison's time per answer in it.
    deadline = timeout_s * max(1, max((len(a) for a in answer_lists), default=1))
    grouped = _pool(pool).map(classes, items, deadline, default=None)
    return [
        labels if labels is not None else _classes_by_spelling(answers)
        for labels, answers in zip(grouped, answer_lists, strict=True)
    ]


def _classes_by_spelling(answers: list[str | None]) -> list[int]:
    ids: dict[str, int] = {}
    return [-1 if not a else ids.setdefault(canonical(a), len(ids)) for a in answers]
