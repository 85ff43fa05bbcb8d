"""Why a re-grade changed a verdict: a short reason per changed attempt, so
`bench grade` can say how many verdicts each grader fix moved, and which way.

The reason is read from the attempt itself (old and new extracted answer,
gold, answer text); it names the rule that most likely made the difference.
"""

from __future__ import annotations

import re

# The comparison rules' own patterns, so a reason names the rule that applied.
from bench.grading.math.equivalence import FONT_LETTER, OPERATOR, PLAIN_MATH

_LETTER_LABEL = re.compile(r"^\s*\(?[A-J]\)?\s*[:.=]")


def change_reason(old_answer: str | None, new_answer: str | None, gold: str, text: str) -> str:
    """The grader rule most likely behind a changed verdict."""
    old, new, gold = old_answer or "", new_answer or "", gold or ""
    if old != new:
        boxes = len(re.findall(r"\\(?:boxed|fbox)", text or ""))
        if boxes >= 2 and ", " in new and new not in old:
            return "extraction: several boxes joined"
        if boxes and not re.search(r"\\(?:boxed|fbox)\s*\{?\s*" + re.escape(new[:20]), text or ""):
            return "extraction: final-answer statement after boxes"
        return "extraction: answer phrase or sentence"
    if _LETTER_LABEL.match(gold) or _LETTER_LABEL.match(new):
        return "comparison: no multiple-choice guessing"
    if any(p.search(text) for p in (FONT_LETTER, OPERATOR) for text in (new, gold)):
        return "comparison: roman-font letters and operators"
    if PLAIN_MATH.search(new) or PLAIN_MATH.search(gold):
        return "comparison: plain-text math"
    if "=" in new and "=" in gold:
        return "comparison: labelled solutions"
    return "comparison: other"
