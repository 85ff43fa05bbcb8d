"""Is a predicted math answer the gold answer? The comparison itself, run
inside grading workers (it imports sympy and may hang; see workers.py).

math-verify (Hugging Face's grader, sympy underneath) does the symbolic work.
Around it we add what it lacks or gets wrong for competition answers:
multiple-choice letters, repeating decimals (0.\\overline{3}), percentages
given as fractions (50\\% vs 0.5), thousands separators, and a string fast
path so the common exact-match case costs no parsing. Parsed forms are cached
per worker, so voting over many samples parses each distinct answer once.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from bench.grading.math_text import canonical, multiple_choice_letter

# Longest answer we hand to the symbolic parser; longer ones are compared as text.
MAX_PARSE_CHARS = 1000
_PAREN_NUMBER = re.compile(r"^\((-?\d+(?:\.\d+)?)\)$")  # AIME's "(073)"
_WHOLE_WRAP = re.compile(r"\\(?:text|textbf|mathbf|mathrm)\{([^{}]*)\}")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\overline\{(\d+)\}")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?$")


def _repeating_to_fraction(match: re.Match[str]) -> str:
    sign, whole, fixed, repeat = match.groups()
    value = Fraction(int(whole or "0"))
    value += Fraction(int(fixed or "0"), 10 ** len(fixed)) if fixed else 0
    value += Fraction(int(repeat), (10 ** len(repeat) - 1) * 10 ** len(fixed))
    return f"{sign}\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _prepare(text: str) -> str:
    """Rewrite forms math-verify misreads into ones it reads right."""
    text = _REPEATING.sub(_repeating_to_fraction, text)
    wrapped = _WHOLE_WRAP.fullmatch(text.strip())
    text = _PAREN_NUMBER.sub(r"\1", (wrapped.group(1) if wrapped else text).strip())
    if _THOUSANDS.match(text):
        text = text.replace("{,}", "").replace(",", "")
    return text


@lru_cache(maxsize=8192)
def _parsed(text: str, timeout_s: int) -> tuple:
    from math_verify import parse

    return tuple(parse(f"${text}$", parsing_timeout=timeout_s))


def _symbolic_equal(pred: str, gold: str, timeout_s: int) -> bool:
    from math_verify import verify

    if len(pred) > MAX_PARSE_CHARS or len(gold) > MAX_PARSE_CHARS:
        return False
    gold_parsed = _parsed(_prepare(gold), timeout_s)
    pred_parsed = _parsed(_prepare(pred), timeout_s)
    if not gold_parsed or not pred_parsed:
        return False
    return verify(list(gold_parsed), list(pred_parsed), timeout_seconds=timeout_s)


def _bracket_kind(text: str) -> str | None:
    """ "set" for \\{…\\}, "sequence" for (…) or […] with a comma; None otherwise."""
    text = canonical(text)
    if text.startswith("\\{") and text.endswith("\\}"):
        return "set"
    if text[:1] in "([" and text[-1:] in ")]" and "," in text:
        return "sequence"
    return None


_DANGLING = ("+", "-", "*", "/", "=", "^", "_", "\\cdot", "\\times", "\\div", "\\")


def _malformed(text: str) -> bool:
    """Cut-off or broken answers ("284 + 284 +", "\\frac{1}{"): math-verify would
    read a piece of them ("284") as the answer, so they never count as equal."""
    text = text.strip()
    opened = text.count("(") + text.count("[")
    closed = text.count(")") + text.count("]")
    return text.endswith(_DANGLING) or text.count("{") != text.count("}") or opened != closed


def _strip_percent(text: str) -> tuple[str, bool]:
    stripped = re.sub(r"\s*(\\%|%|\\text\{\s*percent\s*\}|\s+percent)$", "", text.strip())
    return stripped, stripped != text.strip()


def equal(pred: str, gold: str, timeout_s: float = 5.0, fast_path: bool = True) -> bool:
    """The comparison; raises or hangs on pathological input, so callers run
    it under a hard deadline (bench.grading.math.equivalent does).
    `fast_path=False` sends even identical spellings through sympy (to measure it)."""
    if not pred.strip() or not gold.strip():
        return False
    if fast_path and canonical(pred) == canonical(gold):
        return True
    if _malformed(pred) or _malformed(gold):
        return False
    kinds = {_bracket_kind(pred), _bracket_kind(gold)}
    if kinds == {"set", "sequence"}:  # a set is never a tuple or an interval
        return False
    letter = multiple_choice_letter(gold)
    if letter is not None:
        return multiple_choice_letter(pred) == letter
    seconds = max(1, int(timeout_s))
    gold_bare, gold_percent = _strip_percent(gold)
    pred_bare, pred_percent = _strip_percent(pred)
    if fast_path and canonical(pred_bare) == canonical(gold_bare):
        return True
    if _symbolic_equal(pred_bare, gold_bare, seconds):
        return True
    # "50\%" and 0.5 are the same quantity; so are 0.5 and "50\%".
    if gold_percent and not pred_percent:
        return _symbolic_equal(pred_bare, f"\\frac{{{gold_bare}}}{{100}}", seconds)
    if pred_percent and not gold_percent:
        return _symbolic_equal(f"\\frac{{{pred_bare}}}{{100}}", gold_bare, seconds)
    return False


def check_pair(item: tuple[str, str, float] | tuple[str, str, float, bool]) -> bool:
    """Worker entry point: (pred, gold, timeout_s[, fast_path]) -> verdict."""
    return equal(*item)


def classes(item: tuple[list[str | None], float]) -> list[int]:
    """Worker entry point for voting: a class index per answer (answers that
    are equivalent share one; None, no answer, gets -1). Each answer is
    compared with the first member of every class so far."""
    answers, timeout_s = item
    representatives: list[str] = []
    by_text: dict[str, int] = {}
    labels = []
    for answer in answers:
        if answer is None or not answer.strip():
            labels.append(-1)
            continue
        key = canonical(answer)
        if key not in by_text:
            by_text[key] = next(
                (i for i, rep in enumerate(representatives) if equal(answer, rep, timeout_s)),
                len(representatives),
            )
            if by_text[key] == len(representatives):
                representatives.append(answer)
        labels.append(by_text[key])
    return labels
