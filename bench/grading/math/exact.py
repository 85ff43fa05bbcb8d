"""An exact evaluator for the most common answer shapes, ahead of math-verify.

Most competition answers are numbers, fractions, roots, multiples of pi,
polynomials in one or two letters, or tuples and intervals of those. For
them math-verify's LaTeX parser (ANTLR-generated, ~5 ms a parse) is most of
a grader's time. This recursive-descent reader covers that subset and builds
sympy values directly; anything outside it is None.

It only ever says "equal": two answers whose values sympy finds identical
(same bracket shape, elementwise) are the same answer under any reading.
Everything else, "not equal" included, goes on to math-verify, so no verdict
math-verify would give is changed, only reached sooner.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Exponents and numbers past these are left to math-verify (under its timeout).
MAX_EXPONENT = 1000
MAX_DIGITS = 60

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?|\.\d+)|(?P<command>\\[A-Za-z]+)|(?P<letter>[A-Za-z])"
    r"|(?P<symbol>[-+*/^(){}\[\],=]))"
)
# Dropped as math-verify drops them: spacing, sizing, degree signs, dollars.
_DROPPED = re.compile(
    r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |~|\\\$|\$|\\displaystyle|\^\s*\{?\\circ\}?"
)
_FRACTIONS = {"\\frac", "\\dfrac", "\\tfrac"}
_TIMES = {"*", "\\cdot", "\\times"}
# Every letter is a plain symbol here, Euler's e and the imaginary i included:
# two answers identical as polynomials in a symbol are equal whatever the
# symbol means, so a "same" verdict stays sound.


class _Unsupported(Exception):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip():
                    raise _Unsupported(text[position:])
                break
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise _Unsupported(f"expected {value}")
        self.index += 1
        return token

    def done(self) -> bool:
        return self.index == len(self.tokens)


def _expression(reader: _Reader) -> Any:
    value = _term(reader)
    while (token := reader.peek()) and token[1] in ("+", "-"):
        reader.take()
        right = _term(reader)
        value = value + right if token[1] == "+" else value - right
    return value


def _term(reader: _Reader) -> Any:
    value = _signed(reader)
    while token := reader.peek():
        if token[1] in _TIMES or token[1] == "/":
            reader.take()
            right = _signed(reader)
            value = value / right if token[1] == "/" else value * right
        elif token[0] in ("letter", "command") or token[1] in ("(", "{"):
            if token[1] in _FRACTIONS:
                raise _Unsupported("3\\frac{1}{2} may be a mixed number")
            value = value * _power(reader)  # implicit product: 2\pi, 3x, 2\sqrt{3}
        elif token[0] == "number":
            raise _Unsupported("two numbers side by side")  # "1 000", "3\frac12"-like
        else:
            break
    return value


def _signed(reader: _Reader) -> Any:
    token = reader.peek()
    if token and token[1] in ("-", "+"):
        reader.take()
        value = _signed(reader)
        return -value if token[1] == "-" else value
    return _power(reader)


def _power(reader: _Reader) -> Any:
    import sympy

    base = _atom(reader)
    if (token := reader.peek()) and token[1] == "^":
        reader.take()
        nxt = reader.peek()
        if nxt and nxt[0] == "number":  # x^23 is x^{23} only for one digit
            reader.take()
            digits = nxt[1]
            exponent = sympy.Integer(digits[0])
            if len(digits) > 1:
                reader.tokens.insert(reader.index, ("number", digits[1:]))
        else:
            exponent = _atom(reader)
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise _Unsupported("huge exponent")
        if base.is_Number and abs(base) > 10**MAX_DIGITS and exponent.is_Number:
            raise _Unsupported("huge power")
        return base**exponent
    return base


def _group(reader: _Reader) -> Any:
    reader.take("{")
    value = _expression(reader)
    reader.take("}")
    return value


def _argument(reader: _Reader) -> Any:
    """A command's argument: a {group}, or one token ("\\frac43", "\\sqrt2")."""
    token = reader.peek()
    if token and token[1] == "{":
        return _group(reader)
    if token and token[0] == "number":
        reader.take()
        if "." in token[1]:
            raise _Unsupported("decimal argument")
        if len(token[1]) > 1:  # "\\frac43": the first digit only
            reader.tokens.insert(reader.index, ("number", token[1][1:]))
        import sympy

        return sympy.Integer(token[1][0])
    return _atom(reader)


def _atom(reader: _Reader) -> Any:
    import sympy

    kind, value = reader.take()
    if kind == "number":
        if len(value) > MAX_DIGITS:
            raise _Unsupported("long number")
        return sympy.Rational(value)
    if kind == "letter":
        return sympy.Symbol(value)
    if value in _FRACTIONS:
        return _argument(reader) / _argument(reader)
    if value == "\\sqrt":
        if (token := reader.peek()) and token[1] == "[":
            reader.take("[")
            index = _expression(reader)
            reader.take("]")
            return sympy.root(_argument(reader), index)
        return sympy.sqrt(_argument(reader))
    if value == "\\pi":
        return sympy.pi
    if value == "\\infty":
        return sympy.oo
    if value == "(":
        inner = _expression(reader)
        reader.take(")")
        return inner
    if value == "{":
        inner = _expression(reader)
        reader.take("}")
        return inner
    raise _Unsupported(value)


@lru_cache(maxsize=8192)
def evaluate(text: str) -> tuple[str, tuple[Any, ...]] | None:
    """(bracket shape, values): ("", (v,)) for a scalar, ("(]", (a, b)) for a
    bracketed list; None outside the subset."""
    text = _DROPPED.sub(" ", text).strip()
    if not text or len(text) > 200:
        return None
    try:
        reader = _Reader(text)
        label = ""
        if (
            len(reader.tokens) > 2
            and reader.tokens[0][0] == "letter"
            and reader.tokens[1][1] == "="
        ):
            label = reader.tokens[0][1] + "="  # "x = 5": the same label, the same value
            reader.index = 2
        first, last = reader.tokens[reader.index][1], reader.tokens[-1][1]
        if first in "([" and last in ")]" and _top_level_comma(reader):
            reader.take()
            values = [_expression(reader)]
            while (token := reader.peek()) and token[1] == ",":
                reader.take()
                values.append(_expression(reader))
            reader.take(last)
            shape = label + first + last
        else:
            values, shape = [_expression(reader)], label
        if not reader.done():
            return None
    except (_Unsupported, ZeroDivisionError, ValueError, TypeError, IndexError, RecursionError):
        return None
    return shape, tuple(values)


def _top_level_comma(reader: _Reader) -> bool:
    depth = 0
    for _, value in reader.tokens:
        if value in "([{":
            depth += 1
        elif value in ")]}":
            depth -= 1
        elif value == "," and depth == 1:
            return True
    return False


def _same(a: Any, b: Any) -> bool:
    import sympy

    if a == b:
        return True
    if a.has(sympy.nan, sympy.zoo) or b.has(sympy.nan, sympy.zoo):
        return False
    return sympy.expand(a - b) == 0


def exactly_equal(pred: str, gold: str) -> bool:
    """True when both answers are in the subset and have identical values."""
    left, right = evaluate(pred), evaluate(gold)
    if left is None or right is None or left[0] != right[0] or len(left[1]) != len(right[1]):
        return False
    try:
        return all(_same(a, b) for a, b in zip(left[1], right[1], strict=True))
    except (TypeError, ValueError, RecursionError):
        return False
