"""String work on math answers: find the answer in a completion, and reduce
an answer to a canonical string for the exact-match fast path.

No sympy here: this runs in the sweep's process and must stay linear-time
on any input (no nested quantifiers in the patterns).
"""

from __future__ import annotations

import re

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_HASHES = re.compile(r"####[ \t]*([^\n]+)")
_PHRASES = re.compile(
    r"(?:final answer|the answer)(?: is)?(?:[ \t]*[:：])?[ \t]*", flags=re.IGNORECASE
)


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at text[start] ("{"), nested braces
    balanced. An unclosed group (a cut-off answer) yields the rest of its line."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "\\":  # "\{" and "\}" are literal braces, not grouping
            continue
        if char == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif char == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    rest = text[start + 1 :].split("\n", 1)[0].strip()
    return rest or None


def _last_boxed(text: str) -> str | None:
    position = max(text.rfind(command) for command in _BOX_COMMANDS)
    if position < 0:
        return None
    after = position + (5 if text.startswith("\\fbox", position) else 6)
    rest = text[after:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        return _braced(text, after + len(rest) - len(stripped))
    # "\boxed 5": the next token
    token = re.match(r"[^\s$.,]+", stripped)
    return token.group(0) if token else None


def _after_phrase(text: str) -> str | None:
    matches = list(_PHRASES.finditer(text))
    if not matches:
        return None
    line = text[matches[-1].end() :].split("\n", 1)[0].strip()
    inline = re.match(r"\$([^$]+)\$", line) or re.match(r"\\\((.+?)\\\)", line)
    if inline:
        return inline.group(1).strip()
    # End of the sentence: a period followed by a space, or a trailing period.
    line = re.split(r"\.\s", line, maxsplit=1)[0]
    line = line.rstrip(" .").strip("$ ")
    return line or None


def extract_answer(text: str) -> str | None:
    """The answer a completion gives: its last \\boxed{…} or \\fbox{…}, else
    GSM8K's "#### N", else what follows the last "Final answer:" or "The
    answer is"; None when it gives none."""
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip() or None
    return _after_phrase(text)


_DROP = (
    "\\left",
    "\\right",
    "\\displaystyle",
    "\\!",
    "\\,",
    "\\;",
    "\\:",
    "\\ ",
    "~",
    "$",
    "^\\circ",
    "^{\\circ}",
    "°",
)
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")


def canonical(answer: str) -> str:
    """A spelling-insensitive form: two answers with the same canonical string
    are equal without parsing. Never claims two different values equal."""
    text = answer.strip()
    text = _TEXT_WRAP.sub(r"\1", text)
    for token in _DROP:
        text = text.replace(token, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\s+", "", text).rstrip(".")
    if re.fullmatch(r"-?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?", text):
        text = text.replace("{,}", "").replace(",", "")
    if re.fullmatch(r"-?\d+\.\d*", text):  # trailing zeros of a decimal: 2.50 -> 2.5, 3.0 -> 3
        text = text.rstrip("0").rstrip(".")
    if re.fullmatch(r"[A-Za-z ]+", answer.strip()) or answer.strip().startswith("\\text"):
        text = text.lower()
    return text


_CHOICE = re.compile(r"^\(?([A-E])\)?(?:$|[\s:.)])")


def multiple_choice_letter(answer: str) -> str | None:
    """ "(B)", "B", "\\text{(B)}", "B) 12" -> "B"; None for anything else."""
    text = _TEXT_WRAP.sub(r"\1", answer.strip()).strip("$ ")
    text = text.replace("\\textbf", "")
    match = _CHOICE.match(text)
    return match.group(1).upper() if match else None
