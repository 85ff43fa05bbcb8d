"""A run directory: append-only parquet parts, content-addressed keys, resume.

Layout of results/<run_name>/:
  generations/part-NNNNN.parquet  raw attempts, written as each batch finishes
  grades/part-NNNNN.parquet       verdicts for stored attempts, keyed by `key`
  records.parquet                 generations joined with grades (rebuilt)
  manifest.json                   how the run was made

Generations are stored before they are graded, so a grader fix re-grades
stored text and nothing is generated again. Each part is written to a
temporary name, flushed to disk and renamed, so a crash leaves whole parts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

GENERATIONS, GRADES, RECORDS, MANIFEST = "generations", "grades", "records.parquet", "manifest.json"
# Bumped when the layout or the record columns change incompatibly.
STORE_VERSION = 1


class DiskFullError(OSError):
    """Writing ran out of space; everything stored before is intact."""


def record_key(fields: dict[str, Any]) -> str:
    """A stable content hash of everything that determines a record."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _write_atomic(write: Callable[[Path], None], path: Path) -> None:
    """`write` into a temporary name, sync it, rename it into place: readers and
    crashes see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                errno.ENOSPC,
                f"disk full while writing {path}; the run stopped and everything stored before "
                "is intact: free some space and re-run the same command to resume",
            ) from exc
        raise
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    _write_atomic(lambda tmp: frame.to_parquet(tmp, index=False), path)


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    text = json.dumps(data, indent=2, default=str) + "\n"
    _write_atomic(lambda tmp: tmp.write_text(text), path)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """A run folder's manifest; None when there is none; ValueError when it is not JSON."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON") from None


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        (self.run_dir / GENERATIONS).mkdir(parents=True, exist_ok=True)
        (self.run_dir / GRADES).mkdir(parents=True, exist_ok=True)

    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.run_dir / kind).glob("part-*.parquet"))

    def _next_part(self, kind: str) -> Path:
        parts = self._parts(kind)
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        return self.run_dir / kind / f"part-{number:05d}.parquet"

    def _read(self, kind: str) -> pd.DataFrame:
        parts = self._parts(kind)
        if not parts:
            return pd.DataFrame()
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        # A part re-written after a crash between write and bookkeeping must not double-count.
        return frame.drop_duplicates("key", keep="last").reset_index(drop=True)

    def append_generations(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            _write_parquet(pd.DataFrame(rows), self._next_part(GENERATIONS))

    def append_grades(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            _write_parquet(pd.DataFrame(rows), self._next_part(GRADES))

    def generations(self) -> pd.DataFrame:
        return self._read(GENERATIONS)

    def grades(self) -> pd.DataFrame:
        return self._read(GRADES)

    def stored_keys(self) -> set[str]:
        keys: set[str] = set()
        for part in self._parts(GENERATIONS):
            keys.update(pd.read_parquet(part, columns=["key"])["key"])
        return keys

    def ungraded(self) -> pd.DataFrame:
        generations, grades = self.generations(), self.grades()
        if generations.empty or grades.empty:
            return generations
        return generations[~generations["key"].isin(set(grades["key"]))]

    def records(self) -> pd.DataFrame:
        """Generations with their latest grades; ungraded rows have correct = NA."""
        generations, grades = self.generations(), self.grades()
        if generations.empty:
            return generations
        if grades.empty:
            grades = pd.DataFrame({"key": [], "answer": [], "correct": []})
        merged = generations.merge(grades, on="key", how="left")
        merged["correct"] = merged["correct"].astype("boolean")
        return merged

    def write_records(self) -> pd.DataFrame:
        records = self.records()
        _write_parquet(records, self.run_dir / RECORDS)
        return records

    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.run_dir) or {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(manifest, self.run_dir / MANIFEST)
