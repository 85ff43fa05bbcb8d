"""Chain problems: a start value and k single-digit steps, "7+3-2+5=?".

The reference reasoner (bench/training/reasoner.py) is trained to think through them
one step at a time, writing each running value:

    <think>7,+3=10,-2=8,+5=13</think>13

so the thinking a problem needs is known before any model runs: 2 tokens for
the start and 5 or 6 per step (one character a token). Cut at a budget
shorter than that, the chain is unfinished and the answer is a guess.
Difficulty is the number of steps k (1..12 in suites). Values stay within 0..99.
Deterministic from the seed (`random.Random` with an integer seed only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.types import Problem

MAX_VALUE = 99
# Chains can be up to 16 steps; suites (and the reasoner's training) use 1..12:
# chains of at most ~75 thinking tokens, inside the model's 256-token context.
MIN_STEPS, MAX_STEPS = 1, 16
SUITE_MAX_STEPS = 12


@dataclass(frozen=True)
class Chain:
    start: int
    steps: tuple[int, ...]  # signed single digits, never 0

    @property
    def question(self) -> str:
        return f"{self.start}" + "".join(f"{s:+d}" for s in self.steps) + "=?"

    @property
    def values(self) -> list[int]:
        """The running value after each step."""
        out, value = [], self.start
        for step in self.steps:
            value += step
            out.append(value)
        return out

    @property
    def answer(self) -> int:
        return self.values[-1] if self.steps else self.start

    def thinking(self, merge: list[bool] | None = None) -> str:
        """The written chain; merge[i] joins step i+1 onto step i (one result for two)."""
        parts, value, i = [f"{self.start},"], self.start, 0
        while i < len(self.steps):
            ops = [self.steps[i]]
            if merge and i + 1 < len(self.steps) and merge[i]:
                ops.append(self.steps[i + 1])
            value += sum(ops)
            parts.append("".join(f"{s:+d}" for s in ops) + f"={value},")
            i += len(ops)
        return "".join(parts).rstrip(",")

    def needed_tokens(self) -> int:
        """Thinking tokens of the step-by-step chain (one character each)."""
        return len(self.thinking())


def random_chain(rng: random.Random, steps: int) -> Chain:
    start = rng.randint(0, MAX_VALUE)
    value, out = start, []
    for _ in range(steps):
        choices = [d for d in range(-9, 10) if d != 0 and 0 <= value + d <= MAX_VALUE]
        step = rng.choice(choices)
        value += step
        out.append(step)
    return Chain(start, tuple(out))


def generate(count_per_level: int, seed: int = 0, task: str = "chain") -> list[Problem]:
    """`count_per_level` problems for each chain length 1..12, interleaved."""
    if count_per_level < 1:
        raise ValueError(f"count_per_level={count_per_level}; it must be at least 1")
    levels = range(MIN_STEPS, SUITE_MAX_STEPS + 1)
    rngs = {k: random.Random(seed * 1000 + k) for k in levels}
    problems = []
    for index in range(count_per_level):
        for steps in levels:
            chain = random_chain(rngs[steps], steps)
            problems.append(
                Problem(
                    task=task,
                    problem_id=f"{task}-k{steps:02d}-{index:04d}",
                    question=chain.question,
                    gold=str(chain.answer),
                    difficulty=str(steps),
                )
            )
    return problems
