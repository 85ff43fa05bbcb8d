"""Rows of a data set as they are read (a JSONL file, the hub), each with
where it came from for messages; malformed rows stop the load with file and
line, or are skipped and counted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.tasks.spec import SourceSpec, TaskError

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


class LoadError(ValueError):
    """A row or file of a layout of its own (formats.py) that cannot be read;
    the message is one line, and the loader names the task and row."""


def _rows_from_hub(
    source: SourceSpec, task: str, offline: str | None = None, **options: Any
) -> list[_Row]:
    """The hub copy's rows; a gated set's token from the environment variable
    the task names (source.token_env), never written anywhere. `offline`: what
    to do without the hub (default: a data_dir with <local>/test.jsonl)."""
    import os

    import datasets

    token = os.environ.get(source.token_env) if source.token_env else None
    try:
        data = datasets.load_dataset(
            source.dataset, source.config, split=source.split, token=token, **options
        )
    except Exception as exc:  # offline, unknown dataset, gated without a token
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        gated = f" (gated: set {source.token_env})" if source.token_env and not token else ""
        offline = offline or (
            f"set suite.data_dir (or THINKBENCH_DATA) to a folder with "
            f"{source.local or task}/test.jsonl, or suite.path to a JSONL file"
        )
        raise TaskError(
            f"task {task}: could not load {source.dataset!r} from the Hugging Face hub"
            f"{gated} ({reason}); offline, {offline}"
        ) from None
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
