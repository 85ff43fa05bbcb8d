"""Is a predicted math answer the gold answer? The comparison itself, run
inside grading workers (it imports sympy and may hang; see workers.py).

math-verify (Hugging Face's grader, sympy underneath) does the symbolic work.
Around it we add what it lacks or gets wrong for competition answers:
repeating decimals (0.\\overline{3}), percentages given as fractions (50\\%
vs 0.5), thousands separators, roman-font letters and operators it would
drop as units (2\\mathrm{e} is not 2), plain-text math (sqrt(3), 2**(1/4)),
labelled solution sets (p=5, q=2; p=7, q=2), a string fast path for exact
spellings and an exact evaluator for the commonest shapes (math_exact.py).
Multiple-choice letters are compared only for tasks that say they are
multiple choice (`choice_equal`), never guessed from an answer's shape.
Parsed forms are cached per worker, so voting over many samples parses each
distinct answer once.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from bench.grading.math.exact import exactly_equal
from bench.grading.math.text import canonical, multiple_choice_letter

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


# A single letter in roman or other fonts is a letter (\\mathrm{e} is Euler's e,
# \\mathrm{i} the imaginary unit, \\mathrm{d} a differential): braced, so the
# parser keeps it instead of dropping it as a unit ("2\\mathrm{e}" read as 2).
# Right after a number, SI unit letters stay units (5\\mathrm{m} is 5).
FONT_LETTER = re.compile(
    r"(\d\s*)?\\(?:mathrm|mathit|mathbf|mathsf|textrm|textit|text|rm)\s*\{\s*([A-Za-z])\s*\}"
)
_UNIT_LETTERS = set("mgsLKAVWJNCTh")
OPERATOR = re.compile(r"\\(?:operatorname|mathrm)\s*\{\s*([A-Za-z]+)\s*\}")
# Operators the parser knows under their own command.
_KNOWN_OPERATORS = {
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh",
    "cosh", "tanh", "log", "ln", "exp", "gcd", "lcm", "max", "min", "det",
}  # fmt: skip


class _Unreadable(Exception):
    """An answer the symbolic parser would misread: compared as text only."""


def _font_letter(match: re.Match[str]) -> str:
    number, letter = match.group(1) or "", match.group(2)
    if number and letter in _UNIT_LETTERS:
        return match.group(0)
    return f"{number}{{{letter}}}"


def _operator(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _KNOWN_OPERATORS:
        return f"\\{name}"
    if match.group(0).startswith("\\mathrm"):
        return match.group(0)  # \\mathrm{cm}: a unit
    raise _Unreadable(name)  # \\operatorname{sgn}(x) would be read as nothing


PLAIN_MATH = re.compile(r"sqrt|cbrt|\*\*|(?<![A-Za-z])(?:pi|exp|inf|infinity)(?![A-Za-z])")


def _calls_to_latex(text: str, name: str, opening: str, closing: str) -> str:
    """name(...) -> opening ... closing, parentheses balanced."""
    out, start = [], 0
    while (at := text.find(name + "(", start)) >= 0:
        depth, end = 0, None
        for i in range(at + len(name), len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i
                break
        if end is None:
            break
        inner = _calls_to_latex(text[at + len(name) + 1 : end], name, opening, closing)
        out += [text[start:at], opening, inner, closing]
        start = end + 1
    return "".join(out) + text[start:]


def _plain_to_latex(text: str) -> str:
    """Plain-text math (sqrt(3), 2**(1/4), pi, x*y) as LaTeX; LaTeX stays as it is."""
    if "\\" in text or not PLAIN_MATH.search(text):
        return text
    text = text.replace("**", "^")
    text = _calls_to_latex(text, "sqrt", "\\sqrt{", "}")
    text = _calls_to_latex(text, "cbrt", "\\sqrt[3]{", "}")
    text = _calls_to_latex(text, "exp", "e^{", "}")
    text = _calls_to_latex(text, "^", "^{(", ")}")
    text = re.sub(r"(?<![A-Za-z])pi(?![A-Za-z])", r"\\pi ", text)
    text = re.sub(r"(?<![A-Za-z])inf(?:inity)?(?![A-Za-z])", r"\\infty ", text)
    return text.replace("*", " \\cdot ")


def _prepare(text: str) -> str:
    """Rewrite forms math-verify misreads into ones it reads right; raises
    _Unreadable for answers it would misread whatever we do."""
    text = _plain_to_latex(text)
    text = FONT_LETTER.sub(_font_letter, text)
    text = OPERATOR.sub(_operator, text)
    text = _REPEATING.sub(_repeating_to_fraction, text)
    wrapped = _WHOLE_WRAP.fullmatch(text.strip())
    text = _PAREN_NUMBER.sub(r"\1", (wrapped.group(1) if wrapped else text).strip())
    spaced = re.sub(r"\\[!,]|\s", "", text)  # "10,\\!080"
    if _THOUSANDS.match(spaced):
        text = spaced.replace("{,}", "").replace(",", "")
    return text


@lru_cache(maxsize=8192)
def _parsed(text: str, timeout_s: int) -> tuple:
    from math_verify import parse

    parsed = tuple(parse(f"${text}$", parsing_timeout=timeout_s))
    # math-verify drops what it cannot read at the end ("1+\\mathrm{j}" -> "1+",
    # "2\\cdot d" -> "2\\cdot"): a reading that ends mid-expression is no reading.
    if len(parsed) > 1 and isinstance(parsed[-1], str) and _malformed(parsed[-1]):
        return ()
    return parsed


def _symbolic_equal(pred: str, gold: str, timeout_s: int) -> bool:
    from math_verify import verify

    if len(pred) > MAX_PARSE_CHARS or len(gold) > MAX_PARSE_CHARS:
        return False
    try:
        pred, gold = _prepare(pred), _prepare(gold)
    except _Unreadable:
        return False
    if exactly_equal(pred, gold):
        return True
    gold_parsed = _parsed(gold, timeout_s)
    pred_parsed = _parsed(pred, timeout_s)
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
    it under a hard deadline (bench.grading.math.grade.equivalent does).
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
    labelled = _labelled_equal(pred, gold, timeout_s, fast_path)
    if labelled is not None:
        return labelled
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


# Labelled solutions: "p = 5, q = 2; p = 7, q = 2". Groups are separated by
# ";" or a spelled-out "and"/"or"; within a group, commas separate assignments.
_GROUP_SEPARATOR = re.compile(
    r"\\q?quad\s*\\text\{\s*(?:and|or)\s*\}\s*\\q?quad|\\text\{\s*(?:and|or)\s*\}|\s(?:and|or)\s|;"
)
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?'*)\s*=\s*(.+?)\s*$")


def _split_top_level(text: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _labelled(text: str) -> list[dict[str, str]] | None:
    """Groups of label -> value, or None if `text` is not all assignments."""
    text = re.sub(r"\\q?quad|\\[,;:!]|\$", " ", _GROUP_SEPARATOR.sub(";", text))
    groups: list[dict[str, str]] = []
    for part in text.split(";"):
        group: dict[str, str] = {}
        for piece in _split_top_level(part, ","):
            if not piece.strip():
                continue
            match = _ASSIGNMENT.match(piece)
            if not match:
                return None
            label = re.sub(r"[{}\s]", "", match.group(1))
            if label in group:  # "x = 2, x = 3": alternatives, one group each
                groups.append(group)
                group = {}
            group[label] = match.group(2)
        if group:
            groups.append(group)
    return groups or None


def _labelled_equal(pred: str, gold: str, timeout_s: float, fast_path: bool) -> bool | None:
    """Compare labelled solution sets: the same groups in any order, each with
    the same labels and equal values. None when this is not such a pair."""
    ours, theirs = _labelled(pred), _labelled(gold)
    if ours is None and theirs is None:
        return None
    if ours is None or theirs is None:
        # "x = 2, x = 3" against "2, 3": one label throughout, drop it.
        labelled = ours if ours is not None else theirs
        if len({label for group in labelled for label in group}) != 1 or len(labelled) < 2:
            return None
        values = ", ".join(value for group in labelled for value in group.values())
        other = gold if ours is not None else pred
        return equal(values, other, timeout_s, fast_path)
    if len(ours) == 1 and len(theirs) == 1 and len(ours[0]) == 1 and len(theirs[0]) == 1:
        return None  # "x = 5" against "y = 5": math-verify's reading ("x = 5" is 5)
    if len(ours) != len(theirs):
        return False
    unmatched = list(theirs)
    for group in ours:
        match = next(
            (
                other
                for other in unmatched
                if other.keys() == group.keys()
                and all(equal(group[k], other[k], timeout_s, fast_path) for k in group)
            ),
            None,
        )
        if match is None:
            return False
        unmatched.remove(match)
    return True


def check_pair(item: tuple[str, str, float] | tuple[str, str, float, bool]) -> bool:
    """Worker entry point: (pred, gold, timeout_s[, fast_path]) -> verdict."""
    return equal(*item)


def choice_equal(pred: str, gold: str) -> bool:
    """For multiple-choice tasks only: the same choice letter."""
    letter = multiple_choice_letter(gold) if isinstance(gold, str) else None
    return letter is not None and isinstance(pred, str) and multiple_choice_letter(pred) == letter


def check_choice_pair(item: tuple[str, str, float]) -> bool:
    """Grader entry point for multiple-choice tasks: (letter, gold, timeout_s)."""
    return choice_equal(item[0], item[1])


def choice_classes(item: tuple[list[str | None], float]) -> list[int]:
    """Voting classes for multiple choice: the same letter."""
    answers, _ = item
    ids: dict[str, int] = {}
    letters = [multiple_choice_letter(a) if a else None for a in answers]
    return [-1 if letter is None else ids.setdefault(letter, len(ids)) for letter in letters]


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
