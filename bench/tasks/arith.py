"""Our own arithmetic word problems, generated deterministically from a seed.

Three difficulty levels, so per-difficulty curves and routing have something
to separate. They are pitched at the embedded 135M model, which is right on
most level-1 problems given room to think and on almost no level-3 ones:
  1  one step: add or subtract single-digit numbers
  2  two steps: add then subtract, single-digit numbers
  3  multi-step: three steps on two-digit numbers, with carries and borrows
Answers are exact non-negative integers. The same seed always yields the same
problems in the same order, on any machine and Python version (only
`random.Random` with an integer seed is used).
"""

from __future__ import annotations

import random

from bench.types import Problem

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Ema", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kira", "Leo"]
ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "stamps", "cards"]
CONTAINERS = ["box", "bag", "jar", "crate"]
LEVELS = (1, 2, 3)


def _one_step(rng: random.Random) -> tuple[str, int]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    if rng.random() < 0.5:
        return (
            f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?",
            a + b,
        )
    a += b
    return (
        f"{name} has {a} {item} and gives away {b}. How many {item} does {name} have left?",
        a - b,
    )


def _two_step(rng: random.Random) -> tuple[str, int]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    c = rng.randint(1, min(9, a + b - 1))
    return (
        f"{name} has {a} {item}, buys {b} more, then gives {c} to a friend. "
        f"How many {item} does {name} have now?",
        a + b - c,
    )


def _multi_step(rng: random.Random) -> tuple[str, int]:
    name, item, container = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(CONTAINERS)
    # Units digits chosen so that the addition carries and the subtraction borrows.
    a = rng.randint(1, 6) * 10 + rng.randint(5, 9)
    b = rng.randint(1, 3) * 10 + rng.randint(5, 9)
    total = a + b
    units = total % 10
    lost = rng.randint(1, total // 10 - 1) * 10 + (rng.randint(units + 1, 9) if units < 9 else 9)
    found = rng.randint(11, 39)
    return (
        f"{name} has {a} {item} in one {container} and {b} in another. {name} loses {lost} "
        f"{item}, then finds {found} more. How many {item} does {name} have now?",
        total - lost + found,
    )


_MAKERS = {1: _one_step, 2: _two_step, 3: _multi_step}


def generate(count_per_level: int, seed: int = 0, task: str = "arith") -> list[Problem]:
    """`count_per_level` problems of each level, interleaved 1, 2, 3, 1, 2, 3, ..."""
    if count_per_level < 1:
        raise ValueError(f"count_per_level={count_per_level}; it must be at least 1")
    rngs = {level: random.Random(seed * 1000 + level) for level in LEVELS}
    problems = []
    for index in range(count_per_level):
        for level in LEVELS:
            question, answer = _MAKERS[level](rngs[level])
            problems.append(
                Problem(
                    task=task,
                    problem_id=f"{task}-L{level}-{index:04d}",
                    question=question,
                    gold=str(answer),
                    difficulty=str(level),
                )
            )
    return problems
