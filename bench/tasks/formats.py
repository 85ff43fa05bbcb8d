"""Task sources with a layout of their own: LiveCodeBench's release files and
GPQA's CSV (or parquet, JSONL, the gated hub set). Where the rows come from,
in order: suite.path (a file, or for livecodebench a folder of release
files), suite.data_dir/<local>/, the task file's source.path (relative to
the project), then the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.paths import PROJECT_ROOT
from bench.tasks import gpqa, livecodebench
from bench.tasks.rows import LoadError, _bad_row, _rows_from_hub, _rows_from_jsonl
from bench.tasks.spec import Selection, TaskError, TaskSpec
from bench.types import Problem

Rows = list[tuple[str, dict[str, Any]]]


def load_format(
    spec: TaskSpec,
    path: str | None,
    on_bad_row: str,
    skipped: list[str],
    data_dir: str | None,
    selection: Selection,
) -> list[Problem]:
    def bad_row(message: str) -> None:
        _bad_row(message, on_bad_row, skipped)

    try:
        if spec.source.kind == "livecodebench":
            fields = _livecodebench(spec, path, data_dir, selection, on_bad_row, skipped, bad_row)
        else:
            rows = _gpqa_rows(spec, path, data_dir, on_bad_row, skipped)
            fields = []
            for index, (where, row) in enumerate(rows):
                try:
                    fields.append(gpqa.problem_fields(row, index, spec.source.seed))
                except LoadError as exc:
                    bad_row(f"{where}: {exc}")
    except LoadError as exc:
        raise TaskError(f"task {spec.name}: {exc}") from None
    return [Problem(task=spec.name, **f) for f in fields]


def _located(spec: TaskSpec, path: str | None, data_dir: str | None) -> Path | None:
    """The local file or folder the rows come from; None: the hub."""
    source = spec.source
    if path is not None:
        return Path(path)
    if data_dir and source.local:
        local = Path(data_dir) / source.local
        if not local.exists():
            raise TaskError(
                f"task {spec.name}: {local} does not exist; suite.data_dir must hold "
                f"{source.local}/ (or unset it to load from the hub)"
            )
        return local
    if source.path:
        candidate = Path(source.path)
        return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate
    return None


def _jsonl(path: Path, on_bad_row: str, skipped: list[str]) -> Rows:
    return [(row.where, row.data) for row in _rows_from_jsonl(path, on_bad_row, skipped)]


def _livecodebench(spec, path, data_dir, selection, on_bad_row, skipped, bad_row):
    after = livecodebench.parse_day(selection.after, "suite.after") if selection.after else None
    before = livecodebench.parse_day(selection.before, "suite.before") if selection.before else None
    if after and before and after >= before:
        raise TaskError(f"suite.after={after} is not before suite.before={before}")
    version = selection.version or spec.source.version
    where = _located(spec, path, data_dir)
    if where is None:
        rows = _hub(spec, version_tag=version or "release_latest")
    elif where.is_dir():
        rows = [
            r
            for f in livecodebench.version_files(where, version)
            for r in _jsonl(f, on_bad_row, skipped)
        ]
    else:
        if selection.version:
            raise TaskError(
                f"suite.version={selection.version} needs a folder of release files; "
                f"{where} is one file"
            )
        rows = _jsonl(where, on_bad_row, skipped)
    return livecodebench.problems(spec.name, rows, bad_row, after, before)


def _gpqa_rows(spec, path, data_dir, on_bad_row, skipped) -> Rows:
    where = _located(spec, path, data_dir)
    if where is None:
        return _hub(spec)
    if where.is_dir():
        found = sorted(p for p in where.iterdir() if p.suffix in (".csv", ".parquet", ".jsonl"))
        if not found:
            raise TaskError(f"task {spec.name}: {where} holds no .csv, .parquet or .jsonl file")
        where = found[0]
    if where.suffix == ".jsonl":
        return _jsonl(where, on_bad_row, skipped)
    if not where.is_file():
        raise TaskError(f"task {spec.name}: {where}: no such file; point suite.path at GPQA's CSV")
    import pandas as pd

    try:
        frame = pd.read_parquet(where) if where.suffix == ".parquet" else pd.read_csv(where)
    except Exception as exc:  # pandas' parser errors name no common base
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(f"task {spec.name}: {where} cannot be read ({reason})") from None
    return [(f"{where}:row {i + 1}", row) for i, row in enumerate(frame.to_dict("records"))]


def _hub(spec: TaskSpec, **options: Any) -> Rows:
    rows = _rows_from_hub(spec.source, spec.name, "point suite.path at a local copy", **options)
    return [(row.where, row.data) for row in rows]
