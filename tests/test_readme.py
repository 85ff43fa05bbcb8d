"""The README's config-group table names every option in configs/, and
nothing that is not there: a group gained a file without the table knowing
(reasoner, chain, openai… were missing once)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("model", "engine", "suite", "budget", "strategy", "experiment", "pricing", "verifier")


def expand(name: str) -> list[str]:
    """`qwen3-{0.6b,1.7b}-x` -> qwen3-0.6b-x, qwen3-1.7b-x."""
    parts = re.split(r"\{([^}]*)\}", name)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def table_options() -> dict[str, set[str]]:
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| (.*?) \| ", line)
        if match and match.group(1) in GROUPS and match.group(1) not in rows:
            names = re.findall(r"`([^`=]+)`", match.group(2))
            rows[match.group(1)] = {n for name in names for n in expand(name)}
    return rows


def test_expand():
    assert expand("a-{x,y}-{1,2}") == ["a-x-1", "a-x-2", "a-y-1", "a-y-2"]
    assert expand("plain") == ["plain"]


def test_the_config_table_names_every_option_and_no_other():
    rows = table_options()
    assert set(rows) == set(GROUPS), "a group is missing from the README's table"
    for group in GROUPS:
        files = {p.stem for p in (ROOT / "configs" / group).glob("*.yaml")}
        missing = files - rows[group]
        assert not missing, f"README's `{group}` row lacks {sorted(missing)}"
        # Names in backquotes that are options must exist (other backquoted
        # words, such as `models/`, hold a slash or are known keys).
        stray = {n for n in rows[group] - files if re.fullmatch(r"[\w.-]+", n)}
        assert not stray, f"README's `{group}` row names {sorted(stray)}, not in configs/{group}/"


def test_the_readme_fits_on_a_screen_or_two_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make run" in readme and "make test" in readme and "EXTRA=gpu" in readme
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    linked = re.findall(r"\]\(docs/([\w-]+\.md)", readme)
    assert sorted(set(linked)) == pages, "every docs page is linked from the README, and only those"


def test_docs_links_resolve():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), (
                f"{page.name} links to {target}, which is missing"
            )
