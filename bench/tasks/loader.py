"""Load a task: its definition from tasks/NAME.yaml, its problems from a
generator, a local JSONL file or the Hugging Face hub.

A task file says where problems come from, how their fields map onto
`Problem`, which grader checks them and the prompt template. The schema is
the `TaskSpec` dataclass below; an unknown key in a task file is an error.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from bench.tasks.formats import load_format
from bench.tasks.rows import ON_BAD_ROW, _bad_row, _Row, _rows_from_hub, _rows_from_jsonl
from bench.tasks.spec import (
    FORMATS,
    FieldMap,
    Selection,
    SourceSpec,
    TaskError,
    TaskSpec,
    available_tasks,
    load_spec,
)
from bench.types import Problem

__all__ = [
    "FORMATS",
    "ON_BAD_ROW",
    "FieldMap",
    "Selection",
    "SourceSpec",
    "TaskError",
    "TaskSpec",
    "available_tasks",
    "load_problems",
    "load_spec",
    "problems_sha256",
    "select",
    "shard",
]


def _problems_from_rows(
    spec: TaskSpec,
    rows: list[_Row],
    on_bad_row: str,
    skipped: list[str],
    fields: FieldMap,
    gold_after: str | None = None,
) -> list[Problem]:
    problems = []
    answer_fields = list(fields.gold_fields.values()) if fields.gold_fields else [fields.answer]
    for index, row in enumerate(rows):
        data = row.data
        needed = (fields.question, *answer_fields)
        absent = [k for k in needed if k not in data]
        empty = [k for k in needed if k in data and data[k] in (None, "")]
        if absent or empty:
            problem = (
                f"lacks field(s) {absent}; it has {sorted(data)}"
                if absent
                else f"field(s) {empty} are null or empty"
            )
            _bad_row(f"{row.where}: {problem}", on_bad_row, skipped)
            continue
        if fields.gold_fields:
            gold = json.dumps(
                {key: _gold_value(key, data[name]) for key, name in fields.gold_fields.items()},
                ensure_ascii=False,
            )
        else:
            gold = str(data[fields.answer])
        if gold_after:
            if gold_after not in gold:
                _bad_row(f"{row.where}: answer lacks {gold_after!r}", on_bad_row, skipped)
                continue
            gold = gold.rsplit(gold_after, 1)[1].strip().replace(",", "")
        problems.append(
            Problem(
                task=spec.name,
                problem_id=str(data[fields.id])
                if fields.id and fields.id in data
                else f"{spec.name}-{index:05d}",
                question=_question(data, fields),
                gold=gold,
                difficulty=str(data.get(fields.difficulty, "")) if fields.difficulty else "",
                subject=str(data.get(fields.subject, "")) if fields.subject else "",
                meta={k: v for k, v in data.items() if k not in (fields.question, fields.answer)},
            )
        )
    return problems


def _gold_value(key: str, value: Any) -> Any:
    """A test given as a list of asserts (MBPP's test_list) becomes one script."""
    if key == "test" and isinstance(value, list):
        return "\n".join(map(str, value)) + "\n"
    return value


def _question(data: dict[str, Any], fields: FieldMap) -> str:
    question = str(data[fields.question])
    extra = data.get(fields.question_append) if fields.question_append else None
    if extra:
        lines = extra if isinstance(extra, list) else str(extra).splitlines()
        question += "\n" + "\n".join(map(str, lines))
    return question


def _where(rows: list[_Row], where: dict[str, str] | None) -> list[_Row]:
    if not where:
        return rows
    return [r for r in rows if all(str(r.data.get(k)) == str(v) for k, v in where.items())]


def load_problems(
    spec: TaskSpec,
    path: str | None = None,
    on_bad_row: str = "stop",
    skipped: list[str] | None = None,
    data_dir: str | None = None,
    selection: Selection | None = None,
) -> list[Problem]:
    """The task's problems: from `path` (a JSONL file) if given, else from
    `data_dir`/<local>/test.jsonl for tasks with a local layout, else from the
    task's own source (generator, JSONL or the hub). `selection` (contest
    dates, release) applies to livecodebench tasks. Malformed rows stop the
    load with file and line, or with on_bad_row="skip" are left out and
    described in `skipped`."""
    if on_bad_row not in ON_BAD_ROW:
        raise TaskError(f"suite.on_bad_row={on_bad_row!r}; choose one of: {', '.join(ON_BAD_ROW)}")
    skipped = skipped if skipped is not None else []
    source = spec.source
    fields, gold_after = spec.fields, None
    selection = selection or Selection()
    if source.kind in FORMATS:
        return load_format(spec, path, on_bad_row, skipped, data_dir, selection)
    if path is not None:
        rows = _rows_from_jsonl(Path(path), on_bad_row, skipped)
    elif data_dir and source.local:
        local = Path(data_dir) / source.local / "test.jsonl"
        if not local.is_file():
            raise TaskError(
                f"task {spec.name}: {local} does not exist; suite.data_dir must hold "
                f"{source.local}/test.jsonl (or unset it to load from the hub)"
            )
        rows = _where(_rows_from_jsonl(local, on_bad_row, skipped), source.where)
    elif source.kind == "generator":
        if source.generator == "arith":
            from bench.tasks import arith

            return arith.generate(source.count_per_level, source.seed, task=spec.name)
        if source.generator == "chain":
            from bench.tasks import chain

            return chain.generate(source.count_per_level, source.seed, task=spec.name)
        raise TaskError(
            f"task {spec.name}: generator {source.generator!r} is not known; choose: arith, chain"
        )
    elif source.kind == "jsonl":
        rows = _rows_from_jsonl(Path(source.path or ""), on_bad_row, skipped)
    elif source.kind == "hf":
        rows = _rows_from_hub(source, spec.name)
        fields, gold_after = source.hub_fields or spec.fields, source.gold_after
    else:
        raise TaskError(
            f"task {spec.name}: source.kind={source.kind!r}; choose one of: "
            "generator, jsonl, hf, livecodebench, gpqa"
        )
    return _problems_from_rows(spec, rows, on_bad_row, skipped, fields, gold_after)


def select(
    problems: list[Problem], limit: int | None, sample: int | None, seed: int
) -> list[Problem]:
    """First `limit` problems, then a seeded random `sample` of them (order kept)."""
    chosen = problems[:limit] if limit else list(problems)
    if sample and sample < len(chosen):
        keep = sorted(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [chosen[i] for i in keep]
    return chosen


def shard(problems: list[Problem], index: int, count: int) -> list[Problem]:
    """Every `count`-th problem from `index`: shards of one suite are disjoint
    and together hold every problem, whatever the mix of tasks."""
    return problems[index::count]


def problems_sha256(problems: list[Problem]) -> str:
    """A fingerprint of the problem set, so two runs can prove they used the same data."""
    digest = hashlib.sha256()
    for p in problems:
        digest.update(
            json.dumps([p.task, p.problem_id, p.question, p.gold], ensure_ascii=False).encode()
        )
        digest.update(b"\n")
    return digest.hexdigest()
