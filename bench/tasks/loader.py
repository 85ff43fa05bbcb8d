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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bench.paths import TASKS_DIR
from bench.types import Problem


@dataclass
class FieldMap:
    id: str | None = None  # None: the row's index
    question: str = "question"
    answer: str = "answer"
    difficulty: str | None = None
    subject: str | None = None
    # Code tasks: the gold answer is a JSON object of these row fields
    # (key in the object -> field in the row), e.g. test, entry_point, prompt.
    gold_fields: dict[str, str] | None = None
    # A field whose lines are appended to the question (MBPP shows its asserts).
    question_append: str | None = None


@dataclass
class SourceSpec:
    kind: str = "generator"  # generator | jsonl | hf
    generator: str | None = None
    count_per_level: int = 30
    seed: int = 0
    path: str | None = None  # jsonl
    dataset: str | None = None  # hf
    config: str | None = None
    split: str = "test"
    # The hub copy's field names, where they differ from `fields` (which
    # describe the local JSONL layout <data_dir>/<local>/test.jsonl).
    hub_fields: FieldMap | None = None
    # The gold answer is the text after this marker in the answer field
    # (GSM8K's hub copy ends its worked answer with "#### 18").
    gold_after: str | None = None
    local: str | None = None  # folder name under suite.data_dir
    # Rows of the local file to keep: field -> value (MBPP's standard test split;
    # the hub serves splits by `split` instead).
    where: dict[str, str] | None = None


@dataclass
class TaskSpec:
    name: str
    source: SourceSpec = field(default_factory=SourceSpec)
    fields: FieldMap = field(default_factory=FieldMap)
    grader: str = "numeric"
    # A property of the task, never guessed from an answer: its answers are
    # choice letters (A-J), compared as letters (grader math_choice).
    multiple_choice: bool = False
    prompt: str = "{question}"
    # Override the model's answer length and stop strings for this task's
    # answers (code needs hundreds of tokens and runs over newlines).
    answer_max_tokens: int | None = None
    answer_stop: list[str] | None = None

    @property
    def grader_name(self) -> str:
        """The grader that checks this task's answers."""
        return "math_choice" if self.multiple_choice else self.grader


class TaskError(ValueError):
    """A task that cannot be loaded; the message names the file and the fix."""


def available_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def load_spec(name: str) -> TaskSpec:
    path = TASKS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise TaskError(
            f"task {name!r} is not known; choose one of: {', '.join(available_tasks())}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(TaskSpec), OmegaConf.load(path))
    except Exception as exc:  # omegaconf's messages name the bad key
        raise TaskError(f"{path.name}: {exc}".splitlines()[0]) from exc
    spec = OmegaConf.to_object(merged)
    assert isinstance(spec, TaskSpec)
    if "{question}" not in spec.prompt:
        raise TaskError(f"{path.name}: prompt must contain {{question}}")
    if spec.multiple_choice and spec.grader != "math":
        raise TaskError(
            f"{path.name}: multiple_choice: true needs grader: math (it has {spec.grader!r})"
        )
    return spec


ON_BAD_ROW = ("stop", "skip")


@dataclass
class _Row:
    where: str  # "file:line" or "dataset row N", for messages
    data: dict[str, Any]


def _rows_from_jsonl(path: Path, on_bad_row: str, skipped: list[str]) -> list[_Row]:
    if path.is_dir():
        raise TaskError(
            f"{path} is a folder; point suite.path at a JSONL file (or suite.data_dir at a folder)"
        )
    if not path.is_file():
        raise TaskError(f"{path}: no such file; point suite.path at a JSONL file")
    rows = []
    with path.open("rb") as f:
        for line_number, raw in enumerate(f, 1):
            where = f"{path}:{line_number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # never replaced silently
                _bad_row(
                    f"{where}: not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                    on_bad_row,
                    skipped,
                )
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                _check_text(data)
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                _bad_row(f"{where}: not a valid JSON object ({reason})", on_bad_row, skipped)
                continue
            rows.append(_Row(where, data))
    return rows


def _rows_from_hub(source: SourceSpec, task: str) -> list[_Row]:
    import datasets

    try:
        data = datasets.load_dataset(source.dataset, source.config, split=source.split)
    except Exception as exc:  # offline, unknown dataset, no access
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(
            f"task {task}: could not load {source.dataset!r} from the Hugging Face hub ({reason}); "
            f"offline, set suite.data_dir (or THINKBENCH_DATA) to a folder with "
            f"{source.local or task}/test.jsonl, or suite.path to a JSONL file"
        ) from exc
    return [_Row(f"{source.dataset} row {i + 1}", dict(row)) for i, row in enumerate(data)]


def _check_text(value: Any) -> None:
    """ValueError for text no file can hold (a lone surrogate such as \\ud800)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"a lone surrogate {value[exc.start]!r} at character {exc.start + 1} of a string"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _bad_row(message: str, on_bad_row: str, skipped: list[str]) -> None:
    if on_bad_row == "stop":
        raise TaskError(f"{message}; fix the row or set suite.on_bad_row=skip")
    skipped.append(message)


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
) -> list[Problem]:
    """The task's problems: from `path` (a JSONL file) if given, else from
    `data_dir`/<local>/test.jsonl for tasks with a local layout, else from the
    task's own source (generator, JSONL or the hub). Malformed rows stop the
    load with file and line, or with on_bad_row="skip" are left out and
    described in `skipped`."""
    if on_bad_row not in ON_BAD_ROW:
        raise TaskError(f"suite.on_bad_row={on_bad_row!r}; choose one of: {', '.join(ON_BAD_ROW)}")
    skipped = skipped if skipped is not None else []
    source = spec.source
    fields, gold_after = spec.fields, None
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
            f"task {spec.name}: source.kind={source.kind!r}; choose generator, jsonl or hf"
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
