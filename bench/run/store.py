"""A run directory: append-only parquet parts, content-addressed keys, resume.

Layout of results/<run_name>/:
  generations/part-NNNNN.parquet  raw attempts, written as each batch finishes
  grades/part-NNNNN.parquet       verdicts for stored attempts, keyed by `key`
  records.parquet                 generations joined with grades (rebuilt)
  manifest.json                   how the run was made

Generations are stored before they are graded, so a grader fix re-grades
stored text and nothing is generated again. Each part is written to a
temporary name of its own (pid and a random suffix), flushed to disk and
linked to its final name, which fails rather than overwrite a part someone
else wrote: part numbers never collide, and a crash leaves whole parts. One
writer at a time holds the folder (lock.py).

A part that cannot be read (truncated, empty, foreign) is a DamagedRunError
naming the file; `bench repair RUN` sets such files aside in RUN/damaged/ so
the next sweep regenerates what they held.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.run.columns import GENERATION, GRADE, VERIFICATION

GENERATIONS, GRADES, RECORDS, MANIFEST = "generations", "grades", "records.parquet", "manifest.json"
# A reward model's scores of stored attempts (bench/sweep/verification.py): parts
# like grades, joined on `key`; their columns replace the generation's.
VERIFICATIONS = "verifications"
DAMAGED = "damaged"
# Bumped when the layout or the record columns change incompatibly.
STORE_VERSION = 1


class DiskFullError(OSError):
    """Writing ran out of space; everything stored before is intact."""


class DamagedRunError(ValueError):
    """A file of a run folder cannot be read; the message names it and the way out."""

    def __init__(self, path: Path, reason: str) -> None:
        parts = (GENERATIONS, GRADES, VERIFICATIONS)
        run_dir = path.parent.parent if path.parent.name in parts else path.parent
        super().__init__(
            f"{path} is damaged ({reason}); run `bench repair {run_dir}` to set it aside, "
            "then re-run the sweep to regenerate what it held"
        )
        self.path = path
        self.reason = reason


def record_key(fields: dict[str, Any]) -> str:
    """A stable content hash of everything that determines a record."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _temporary(path: Path) -> Path:
    """A temporary name no other writer uses (pid and a random suffix)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _sync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_temporary(write: Callable[[Path], None], path: Path) -> Path:
    tmp = _temporary(path)
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(write: Callable[[Path], None], path: Path) -> None:
    """`write` into a temporary name, sync it, rename it into place: readers and
    crashes see the old file or the whole new one, never a part."""
    tmp = _write_temporary(write, path)
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _write_new_part(frame: pd.DataFrame, folder: Path) -> Path:
    """Write `frame` as the next part of `folder`, never over an existing one:
    the final name is taken with link(2), which fails if it exists."""
    tmp = _write_temporary(lambda t: frame.to_parquet(t, index=False), folder / "part.parquet")
    try:
        while True:
            numbers = [_part_number(p) for p in folder.glob("part-*.parquet")]
            path = folder / f"part-{max(numbers, default=-1) + 1:05d}.parquet"
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue  # another writer took this number first: take the next
            _sync_dir(folder)
            return path
    finally:
        tmp.unlink(missing_ok=True)


def _part_number(path: Path) -> int:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return -1


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(lambda tmp: frame.to_parquet(tmp, index=False), path)


def write_text_atomic(text: str, path: Path) -> None:
    write_atomic(lambda tmp: tmp.write_text(text, encoding="utf-8"), path)


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    text = json.dumps(data, indent=2, default=str) + "\n"
    write_text_atomic(text, path)


# Keys a manifest may hold, with the type each must have.
_MANIFEST_TYPES = {
    "config": dict, "identity": str, "status": str, "engine_work": dict, "versions": dict,
    "store_version": int, "records": int, "adherence": dict, "outputs": list,
}  # fmt: skip


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """A run folder's manifest; None when there is none; DamagedRunError (a
    ValueError) when it is not valid JSON or not shaped like a manifest."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    return read_manifest_file(path)


def read_manifest_file(path: Path) -> dict[str, Any]:
    """The manifest at `path` (any file name), checked as read_manifest checks it."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DamagedRunError(path, "not valid JSON") from None
    except OSError as exc:
        raise DamagedRunError(path, exc.strerror or str(exc)) from None
    if not isinstance(manifest, dict):
        raise DamagedRunError(path, f"a JSON {type(manifest).__name__}, not an object")
    for key, kind in _MANIFEST_TYPES.items():
        value = manifest.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise DamagedRunError(
                path, f"{key!r} is a {type(value).__name__}, not a {kind.__name__}"
            )
    for name, version in (manifest.get("versions") or {}).items():
        if version is not None and not isinstance(version, str):
            raise DamagedRunError(
                path, f"'versions.{name}' is a {type(version).__name__}, not a version string"
            )
    return manifest


def _parquet_problem(path: Path, exc: Exception) -> str:
    """What is wrong with a part, in a few words."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return error.strerror or "unreadable"
    text = str(exc)
    if size == 0:
        return "an empty file"
    if "magic bytes" in text or "footer" in text:
        return f"not a whole Parquet file ({size} bytes: cut off, or something else)"
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


def read_part(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One stored part; DamagedRunError naming it when it cannot be read."""
    try:
        frame = pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow's errors have no common base worth naming
        raise DamagedRunError(path, _parquet_problem(path, exc)) from None
    if "key" not in frame.columns:
        raise DamagedRunError(path, "no 'key' column: not a part this tool wrote")
    return frame


class RunStore:
    def __init__(self, run_dir: Path, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        if create:
            (self.run_dir / GENERATIONS).mkdir(parents=True, exist_ok=True)
            (self.run_dir / GRADES).mkdir(parents=True, exist_ok=True)

    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.run_dir / kind).glob("part-*.parquet"), key=_part_number)

    def _read(self, kind: str) -> pd.DataFrame:
        parts = self._parts(kind)
        if not parts:
            return pd.DataFrame()
        frame = pd.concat([read_part(p) for p in parts], ignore_index=True)
        # A part re-written after a crash between write and bookkeeping must not double-count.
        return frame.drop_duplicates("key", keep="last").reset_index(drop=True)

    def damaged(self) -> list[tuple[Path, str]]:
        """(file, reason) for every part that cannot be read, and the manifest if broken."""
        found = []
        for kind in (GENERATIONS, GRADES, VERIFICATIONS):
            for part in self._parts(kind):
                try:
                    read_part(part)
                except DamagedRunError as exc:
                    found.append((part, exc.reason))
        try:
            read_manifest(self.run_dir)
        except DamagedRunError as exc:
            found.append((self.run_dir / MANIFEST, exc.reason))
        return found

    def repair(self) -> list[tuple[Path, str]]:
        """Move every damaged file into RUN/damaged/ (with why, in damaged/README)
        and drop temporary files a crash left; return what was moved where."""
        moved = []
        aside = self.run_dir / DAMAGED
        for path, reason in self.damaged():
            aside.mkdir(exist_ok=True)
            target = (
                aside / f"{path.parent.name}-{path.name}"
                if path.parent != self.run_dir
                else aside / path.name
            )
            while target.exists():
                target = target.with_name(target.name + ".again")
            os.replace(path, target)
            with open(aside / "README", "a", encoding="utf-8") as f:
                f.write(f"{path.relative_to(self.run_dir)} -> {target.name}: {reason}\n")
            moved.append((path, reason))
        folders = (GENERATIONS, GRADES, VERIFICATIONS)
        for folder in (self.run_dir, *(self.run_dir / f for f in folders)):
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
        return moved

    # Each append checks its rows against the part's columns (run/columns.py)
    # first: a row of the wrong type is a RowTypeError and nothing is written.
    def append_generations(self, rows: list[dict[str, Any]]) -> Path | None:
        """Store rows as a new part; returns its path (None when there were none)."""
        if rows:
            GENERATION.check(rows)
            return _write_new_part(pd.DataFrame(rows), self.run_dir / GENERATIONS)
        return None

    def append_grades(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            GRADE.check(rows)
            _write_new_part(pd.DataFrame(rows), self.run_dir / GRADES)

    def append_verifications(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            VERIFICATION.check(rows)
            (self.run_dir / VERIFICATIONS).mkdir(exist_ok=True)
            _write_new_part(pd.DataFrame(rows), self.run_dir / VERIFICATIONS)

    def verifications(self) -> pd.DataFrame:
        return self._read(VERIFICATIONS)

    def unverified(self, verifier: str) -> pd.DataFrame:
        """Generations with no score from `verifier` yet."""
        generations, scored = self.generations(), self.verifications()
        if generations.empty or scored.empty:
            return generations
        done = set(scored.loc[scored["verifier"] == verifier, "key"])
        return generations[~generations["key"].isin(done)]

    def generations(self) -> pd.DataFrame:
        return self._read(GENERATIONS)

    def grades(self) -> pd.DataFrame:
        return self._read(GRADES)

    def stored_keys(self) -> set[str]:
        keys: set[str] = set()
        for part in self._parts(GENERATIONS):
            keys.update(read_part(part, columns=["key"])["key"])
        return keys

    def ungraded(self) -> pd.DataFrame:
        generations, grades = self.generations(), self.grades()
        if generations.empty or grades.empty:
            return generations
        return generations[~generations["key"].isin(set(grades["key"]))]

    def unjudged(self, verdicts: dict[str, tuple[str, ...]]) -> pd.DataFrame:
        """Generations whose latest grade is no verdict: never graded, or
        graded by a grader that keeps a status (`verdicts`: grader -> the
        statuses that judge the attempt) with another status or none (a
        sandbox failure; a grade stored before statuses were kept)."""
        generations, grades = self.generations(), self.grades()
        if generations.empty or grades.empty:
            return generations
        status = grades["status"] if "status" in grades else pd.Series(None, index=grades.index)
        judged = pd.Series(True, index=grades.index)
        for grader, statuses in verdicts.items():
            mine = grades["grader"] == grader
            judged &= ~mine | status.isin(statuses)
        return generations[~generations["key"].isin(set(grades.loc[judged, "key"]))]

    def records(self) -> pd.DataFrame:
        """Generations with their latest grades; ungraded rows have correct = NA."""
        generations, grades = self.generations(), self.grades()
        if generations.empty:
            return generations
        if grades.empty:
            grades = pd.DataFrame({"key": [], "answer": [], "correct": []})
        scored = self.verifications()
        if not scored.empty:
            # A reward model's scores replace the generation's own (none, or
            # self-certainty) for the attempts it scored.
            scored = scored.set_index("key")
            generations = generations.copy()
            for column in scored.columns:
                mapped = generations["key"].map(scored[column])
                if column in generations:
                    generations[column] = mapped.where(mapped.notna(), generations[column])
                else:
                    generations[column] = mapped
        merged = generations.merge(grades, on="key", how="left")
        merged["correct"] = merged["correct"].astype("boolean")
        if "correct_in_thinking" in merged:  # graded for cut chains only (None elsewhere)
            merged["correct_in_thinking"] = merged["correct_in_thinking"].astype("boolean")
        return merged

    def write_records(self) -> pd.DataFrame:
        records = self.records()
        _write_parquet(records, self.run_dir / RECORDS)
        return records

    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.run_dir) or {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(manifest, self.run_dir / MANIFEST)
