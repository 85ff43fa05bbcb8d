"""Write a table three ways: CSV (for programs), Markdown (for READMEs) and
LaTeX (for papers). The CSV keeps full precision; the others are rounded for
reading."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench.run.store import write_atomic, write_text_atomic

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = [
        "| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text).replace("∞", r"$\infty$")


def to_latex(table: pd.DataFrame, caption: str = "") -> str:
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        *([rf"\caption{{{_latex_escape(caption)}}}"] if caption else []),
        rf"\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(_latex_escape(str(c)) for c in table.columns) + r" \\",
        r"\hline",
    ]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(_cell(v)) for v in row) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, directory: Path, stem: str, caption: str = "") -> list[str]:
    """stem.csv, stem.md and stem.tex in `directory`; returns the file names."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(
        lambda t: table.to_csv(t, index=False, float_format="%.6g"), directory / f"{stem}.csv"
    )
    write_text_atomic(to_markdown(table), directory / f"{stem}.md")
    write_text_atomic(to_latex(table, caption), directory / f"{stem}.tex")
    return [f"{stem}.csv", f"{stem}.md", f"{stem}.tex"]
