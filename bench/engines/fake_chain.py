"""A scripted chain writer for the fake engine (unit tests and dry runs only).

The default scripts write one fixed text per question, so a chain that a
strategy assembled from several samples (search: a step of one sample, the
next step of another) is not a prefix of any of them. This writer continues
a chain problem ("7+3-2=?") from whatever was written so far: the next
steps from the last running value written, each one slipping (off by 1..3)
with a chance set by the sample it is, then "</think>" and the last value
as the answer; after a forced "</think>", the last value written. Everything
is a function of the question, the text so far and the sample, so runs are
reproducible. A question that is no chain gets the fallback script.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from bench.tasks.chain_steps import STEP_DELIMITER, parse_question

THINKING_END = "</think>"
# Per-step slip chance of a sampled take (take 0, greedy, never slips).
SAMPLED_SLIP_RATE = 0.15
_WRITTEN_STEP = re.compile(r"^((?:[+-]\d)+)=(-?\d+)$")


def _chance(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ChainWriter:
    """A fake-engine script that continues any chain prefix (`continuation`);
    a question that is no chain goes to `fallback` (a script of fake.py)."""

    def __init__(
        self, fallback: Callable[[str], Any], slip_rate: float = SAMPLED_SLIP_RATE
    ) -> None:
        self.fallback = fallback
        self.slip_rate = slip_rate

    def __call__(self, question: str) -> Any:
        return self.fallback(question)

    def continuation(self, question: str, written: str, variant: int) -> str | None:
        """What the model writes after `written` (None: not a chain problem)."""
        chain = parse_question(question)
        if chain is None:
            return None
        thinking, ended, _ = written.partition(THINKING_END)
        pieces = [p for p in thinking.split(STEP_DELIMITER) if p.strip()]
        value, done = _last_value(pieces, chain.start)
        if ended:  # the thinking was closed (by the model or a forced cue): answer
            return "" if written.endswith(str(value)) else str(value)
        out = "" if pieces else str(chain.start)
        for index in range(done, len(chain.steps)):
            step = chain.steps[index]
            value += step
            if variant and _chance(question, written, variant, index) < self.slip_rate:
                value += 1 if _chance(question, written, variant, index, "sign") < 0.5 else -1
            out += f"{STEP_DELIMITER}{step:+d}={value}"
        if thinking.endswith(STEP_DELIMITER) and out.startswith(STEP_DELIMITER):
            out = out[len(STEP_DELIMITER) :]  # the delimiter is written already
        return out + THINKING_END + str(value)


def _last_value(pieces: list[str], start: int) -> tuple[int, int]:
    """(the last running value written, how many of the question's steps were written)."""
    value, done = start, 0
    if pieces and pieces[0].strip().lstrip("-").isdigit():
        value = int(pieces[0])
    for piece in pieces[1:]:
        match = _WRITTEN_STEP.match(piece.strip())
        if match is None:
            break
        value = int(match.group(2))
        done += len(re.findall(r"[+-]\d", match.group(1)))
    return value, done
