"""String work on math answers: find the answer in a completion, and reduce
an answer to a canonical string for the exact-match fast path.

No sympy here: this runs in the sweep's process and must stay linear-time
on any input (no nested quantifiers in the patterns).
"""

from __future__ import annotations

import re

_HASHES = re.compile(r"####[ \t]*([^\n]+)")
# "Final answer:", "The answer is", "I think the correct answer is", "therefore
# answer is", "The answer: D"; "answer" alone must be followed by "is" or a colon.
_PHRASES = re.compile(
    r"(?:\bfinal answer\b(?:[ \t]+(?:is|would be|will be))?|\banswer\b[ \t]*(?:is|would be|will be|should be|[:：]))"
    r"(?:[ \t]*[:：])?[ \t]*",
    flags=re.IGNORECASE,
)
# Statements explicit enough to override boxes written before them.
_FINAL = re.compile(
    r"final answer|(?:the|my|correct) answer (?:is|would be|will be)", flags=re.IGNORECASE
)
# Words between an answer phrase and the answer itself.
_FILLER = re.compile(
    r"^(?:(?:for sure|surely|definitely|clearly|probably|likely|indeed|actually|simply|just|"
    r"then|therefore|thus|so|option|choice|answer|the|that|:)\s+)+",
    flags=re.IGNORECASE,
)
# What may stand between two boxes that together are one answer: a connective
# ("and", "or", a comma) and at most a few words ("for part (a) and").
_CONNECTIVE = re.compile(r"(?:(?:^|\s)(?:and|or)|[,;&])$", flags=re.IGNORECASE)
_NEXT_LABEL = re.compile(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*=$")
_LATEX_SPACING = re.compile(r"\\(?:quad|qquad|,|;|:|!| )|\\text\{([^{}]*)\}|\\[()\[\]]|\$")
MAX_CONNECTIVE_WORDS = 5
MAX_JOINED_BOXES = 50  # more boxes than this are no single answer


def _braced(text: str, start: int, stop: int | None = None) -> tuple[str, int] | None:
    """(content, end index) of the brace group opening at text[start] ("{"),
    nested braces balanced, looking no further than `stop`. An unclosed group
    (a cut-off answer) yields the rest of its line."""
    depth = 0
    stop = len(text) if stop is None else stop
    for i in range(start, stop):
        char = text[i]
        if char == "\\":  # "\{" and "\}" are literal braces, not grouping
            continue
        if char == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif char == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    rest = text[start + 1 : stop].split("\n", 1)[0].strip()
    return (rest, stop) if rest else None


_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])[ \t]*")
_BARE_TOKEN = re.compile(r"[^\s$.,]+")


def _box_at(text: str, match: re.Match[str], stop: int) -> tuple[int, int, str] | None:
    """The box `match` starts, read no further than `stop`: (start, end, content)."""
    after = match.end()
    if after < stop and text[after] == "{":
        group = _braced(text, after, stop)
        return (match.start(), group[1], group[0]) if group is not None else None
    token = _BARE_TOKEN.match(text, after, stop)  # "\boxed 5": the next token
    return (match.start(), token.end(), token.group(0)) if token else None


def _joins(gap: str) -> bool:
    """Whether the text between two boxes joins them into one answer: it ends in
    a connective ("and", "or", a comma), perhaps before the next part's label
    ("and y_2 ="), after at most a few words ("for part (a) and"). A gap that
    ends otherwise (", then correct:") is a correction: the last box stands."""
    plain = _LATEX_SPACING.sub(lambda m: f" {m.group(1) or ''} ", gap).strip()
    plain = _NEXT_LABEL.sub("", plain).strip()
    if not plain or not _CONNECTIVE.search(plain):
        return False
    return len(plain.split()) <= MAX_CONNECTIVE_WORDS and len(plain) <= 40


def _last_boxed(text: str) -> tuple[str, int] | None:
    """The last box, joined with the boxes before it that a connective links
    to it ("\\boxed{1} and \\boxed{2}" -> "1, 2"); and where it ends. Linear
    in the text: starts are found in one pass, and each box is read only up to
    the next one."""
    starts = list(_BOX.finditer(text))
    chain: list[tuple[int, int, str]] = []  # last box first
    stop = len(text)
    for match in reversed(starts):
        box = _box_at(text, match, stop)
        stop = match.start()
        if box is None or not box[2].strip():
            if chain:
                break
            continue
        if chain and (len(chain) >= MAX_JOINED_BOXES or not _joins(text[box[1] : chain[-1][0]])):
            break
        chain.append(box)
    if not chain:
        return None
    return ", ".join(content.strip() for _, _, content in reversed(chain)), chain[0][1]


# A predicate that only points back at the answer ("is the answer", "is correct").
_SELF_REFERENCE = re.compile(
    r"^(?:(?:the|our|my)\s+)?(?:(?:final|correct|right)\s+)?(?:answer|solution|result)\b"
    r"|^(?:correct|right|true)\b",
    flags=re.IGNORECASE,
)


def _answer_in_sentence(sentence: str) -> str:
    """The answer a sentence states: "The largest $n$ is 34" -> "34", "There
    are 12 such numbers" -> "12"; anything without such a verb as it is
    ("p = 5, q = 2" stays whole)."""
    verbs, dollars, counted = [], 0, 0
    for verb in re.finditer(r"(?:^|\s)(?:is|are|equals|was|be)\s+", sentence, re.IGNORECASE):
        dollars += sentence.count("$", counted, verb.start())  # running: linear overall
        counted = verb.start()
        if dollars % 2 == 0:  # outside inline math
            verbs.append(verb)
    if not verbs:
        return sentence
    rest = sentence[verbs[-1].end() :].strip()
    if _SELF_REFERENCE.match(rest):  # "512 is the answer", "7 is correct": the subject
        return sentence[: verbs[-1].start()].strip() or sentence
    # A number or inline math followed by words: "12 such numbers" -> "12".
    leading = re.match(r"(\$[^$]+\$|[-+]?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s+[A-Za-z]", rest)
    if leading:
        return leading.group(1)
    return rest or sentence


_NEW_WORDS = re.compile(r"\s+(?!and\b)[A-Za-z]{2,}")
_REASON = re.compile(r"\s*(?:because|since|but|which)\b")


def _clause(line: str) -> str:
    """The answer clause at the start of `line`: up to the end of the sentence,
    a semicolon, a comma that starts new words (", it can't be A") or a
    "because"; never inside brackets or inline math. Linear: patterns are
    matched in place, never on a slice."""
    depth, math = 0, False
    for i, char in enumerate(line):
        if char == "$":
            math = not math
            continue
        if math:
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if depth:
            continue
        if char == "." and (i + 1 == len(line) or line[i + 1].isspace()):
            return line[:i]  # a sentence's end (a decimal point has a digit after it)
        if char == ";":
            return line[:i]
        if char == "," and _NEW_WORDS.match(line, i + 1):
            return line[:i]
        if char == " " and _REASON.match(line, i + 1):
            return line[:i]
    return line


def _after_phrase(text: str) -> tuple[str, int] | None:
    """The answer after the last answer phrase, and where that phrase stands."""
    matches = list(_PHRASES.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    line = text[last.end() :].split("\n", 1)[0].strip()
    line = _FILLER.sub("", line)
    inline = re.match(r"\$\$?([^$]+)\$\$?", line) or re.match(r"\\\((.+?)\\\)", line)
    if inline:
        return inline.group(1).strip(), last.start()
    answer = _answer_in_sentence(_clause(line).strip())
    answer = answer.rstrip(" .").strip("$ ").rstrip(" .")  # "18.6$." and "3$$" too
    return (answer, last.start()) if answer else None


def extract_answer(text: str) -> str | None:
    """The answer a completion gives: its last \\boxed{…} or \\fbox{…} (joined
    with the boxes a connective links to it), unless an explicit final-answer
    statement comes after it; else GSM8K's "#### N", else what the last answer
    phrase ("Final answer:", "The answer is", ...) states; None when it gives none."""
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_boxed(text)
    phrase = _after_phrase(text)
    if boxed is not None:
        window = text[max(0, phrase[1] - 12) : phrase[1] + 40] if phrase else ""
        if phrase is not None and phrase[1] >= boxed[1] and _FINAL.search(window):
            return phrase[0]  # a later explicit statement overrides intermediate boxes
        return boxed[0].strip()
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip() or None
    return phrase[0] if phrase else None


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


_CHOICE = re.compile(r"^\(?([A-J])\)?(?:$|[\s:.),])")
# A choice stated in words at the start of a completion ("D. it can't be A")
# or after "is"/"it's" ("therefore I think it's B"); "I think" is no choice.
_LEADING_CHOICE = re.compile(r"^\s*\(?([A-J])\)?(?:[.):,]|$)")
_STATED_CHOICE = re.compile(r"\b(?:is|it's|it is|choose|pick|select)\s+\(?([A-J])\)?(?![A-Za-z])")


def multiple_choice_letter(answer: str) -> str | None:
    """ "(B)", "B", "\\text{(B)}", "B) 12" -> "B"; None for anything else."""
    text = _TEXT_WRAP.sub(r"\1", answer.strip()).strip("$ ")
    text = text.replace("\\textbf", "")
    match = _CHOICE.match(text)
    return match.group(1).upper() if match else None


def extract_choice(text: str) -> str | None:
    """The choice letter a completion of a multiple-choice task gives: from its
    boxed or stated answer, else a letter it opens with or states last."""
    if not isinstance(text, str) or not text.strip():
        return None
    answer = extract_answer(text)
    letter = multiple_choice_letter(answer) if answer else None
    if letter:
        return letter
    leading = _LEADING_CHOICE.match(text)
    if leading:
        return leading.group(1)
    stated = _STATED_CHOICE.findall(text)
    return stated[-1] if stated else None
