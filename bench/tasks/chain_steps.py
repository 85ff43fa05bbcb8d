"""The steps of a written chain, and whether each one still holds: the truth a
process reward model is judged against (Lightman et al. 2023, "Let's Verify
Step by Step": a step is good until the first mistake, bad from there on).

A chain problem's thinking is written one step at a time, the steps split by
",":  "7,+3=10,-2=8,+5=13"  ->  ["7", "+3=10", "-2=8", "+5=13"], then the
answer. `step_labels` reads any written chain (a model's, cut at a budget
or not) against its question and labels every step and the answer; it needs
no model, so a verifier's step scores can be checked against it.

`slipped` writes a chain whose running values slip (are off by 1..3) with a
known probability per step, the chain then continuing from the wrong value:
the training data of the slipping reference policy (bench/training/reasoner.py
--slip_rate), whose sampled chains a verifier has something to catch in.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bench.tasks.chain import MAX_VALUE, Chain

STEP_DELIMITER = ","
_QUESTION = re.compile(r"^(\d+)((?:[+-]\d)*)=\?$")
_STEP = re.compile(r"^((?:[+-]\d)+)=(-?\d+)$")
SLIP_OFFSETS = (-3, -2, -1, 1, 2, 3)


def parse_question(question: str) -> Chain | None:
    """The chain a question asks about ("7+3-2=?"), None if it is not one."""
    match = _QUESTION.match(question.strip())
    if match is None:
        return None
    steps = tuple(int(s) for s in re.findall(r"[+-]\d", match.group(2)))
    return Chain(int(match.group(1)), steps)


def split_steps(thinking: str) -> list[str]:
    """A written chain's steps (empty pieces dropped: a cut can end on ",")."""
    return [part for part in thinking.split(STEP_DELIMITER) if part.strip()]


@dataclass(frozen=True)
class StepLabels:
    """Per step of the thinking, and for the answer: does it still hold?"""

    steps: list[str]
    labels: list[bool]  # one per step: good until the first mistake
    answer_label: bool  # every step good and the answer is the chain's true result
    complete: bool  # the thinking reached the last step of the question


def _step_ok(text: str, chain: Chain, done: int, value: int, last: bool) -> tuple[bool, int, int]:
    """(whether step `text` holds, steps of the question it consumed, the value
    after it) for a chain whose first `done` steps were written right."""
    match = _STEP.match(text.strip())
    if match is None:
        if not last:
            return False, 0, value
        # A step cut by the budget: good while it is the start of a right step.
        for count in (1, 2):
            ops = chain.steps[done : done + count]
            right = "".join(f"{s:+d}" for s in ops) + f"={value + sum(ops)}"
            if len(ops) == count and right.startswith(text.strip()):
                return True, 0, value
        return False, 0, value
    ops = [int(s) for s in re.findall(r"[+-]\d", match.group(1))]
    expected = list(chain.steps[done : done + len(ops)])
    new_value = value + sum(expected)
    ok = ops == expected and int(match.group(2)) == new_value
    return ok, len(ops), new_value


def step_labels(question: str, thinking: str, answer: str | None) -> StepLabels | None:
    """Label every step of a written chain and its answer against the question;
    None when the question is not a chain problem."""
    chain = parse_question(question)
    if chain is None:
        return None
    steps = split_steps(thinking)
    labels: list[bool] = []
    good, done, value, written = True, 0, chain.start, 0
    for index, text in enumerate(steps):
        if index == 0:
            good = text.strip() == str(chain.start)
        else:
            match = _STEP.match(text.strip())
            written += len(re.findall(r"[+-]\d", match.group(1))) if match else 0
            if good:
                good, consumed, value = _step_ok(text, chain, done, value, index == len(steps) - 1)
                done += consumed
        labels.append(good)
    # Every step of the question written out (right or not), the last one whole.
    complete = written >= len(chain.steps)
    answer_label = good and (answer or "").strip() == str(chain.answer)
    return StepLabels(steps, labels, answer_label, complete)


def slip_offsets(rest: Sequence[int]) -> list[int]:
    """The slips (SLIP_OFFSETS) that keep every value of `rest`, the running
    values from the slipped step on, within 0..MAX_VALUE."""
    return [o for o in SLIP_OFFSETS if all(0 <= v + o <= MAX_VALUE for v in rest)]


def written_steps(chain: Chain, slip_at: int | None = None, offset: int = 0) -> list[str]:
    """The chain's steps written one at a time ("7", "+3=10", ...), the value
    after step `slip_at` (1-based) off by `offset` and the chain going on
    from there; None writes it right."""
    steps, shift = [str(chain.start)], 0
    for index, (step, value) in enumerate(zip(chain.steps, chain.values, strict=True), 1):
        if index == slip_at:
            shift = offset
        steps.append(f"{step:+d}={value + shift}")
    return steps


def slipped(chain: Chain, rng: random.Random, rate: float) -> tuple[str, int, list[bool]]:
    """(thinking, the answer it reaches, per-step labels) of `chain` written one
    step at a time, each running value off by 1..3 with probability `rate`
    (kept within 0..MAX_VALUE for the rest of the chain); the chain goes on
    from the value it wrote."""
    values = chain.values
    offset, parts, labels, good = 0, [str(chain.start)], [True], True
    for index, step in enumerate(chain.steps):
        if rng.random() < rate:
            fits = slip_offsets([v + offset for v in values[index:]])
            if fits:
                offset += rng.choice(fits)
        written = values[index] + offset
        good = good and written == values[index]
        parts.append(f"{step:+d}={written}")
        labels.append(good)
    return STEP_DELIMITER.join(parts), chain.start + sum(chain.steps) + offset, labels
