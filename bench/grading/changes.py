"""Why a re-grade changed a verdict: a short reason per changed attempt, so
`bench grade` can say how many verdicts each grader fix moved, and which way.

The reason is read from the attempt itself (old and new extracted answer,
gold, answer text); it names the rule that most likely made the difference.
"""

from __future__ import annotations

import re

_PLAIN_MATH = re.compile(r"sqrt|cbrt|\*\*|(?<![A-Za-z])pi(?![A-Za-z])")
_FONT = re.compile(r"\\(?:mathrm|mathit|textrm|operatorname|text|rm)\s*\{\s*[A-Za-z]+\s*\}")
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
    if _FONT.search(new) or _FONT.search(gold):
        return "comparison: roman-font letters and operators"
    if _PLAIN_MATH.search(new) or _PLAIN_MATH.search(gold):
        return "comparison: plain-text math"
    if "=" in new and "=" in gold:
        return "comparison: labelled solutions"
    return "comparison: other"
