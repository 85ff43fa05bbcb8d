"""What `bench view` shows, read from run folders as they are (also while a
sweep writes them): the stored parts, never records.parquet, which is only
rebuilt when a sweep ends.

Memory stays bounded by the largest part, not the run: the index keeps the
light columns of every attempt (no text), and one problem's page reads only
the generation parts that hold it, filtered to its rows. The index is built
again when the parts change (a sweep stored more, a re-grade), checked on
every request by the parts' names, sizes and times.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from bench.analysis.metrics import with_verdict
from bench.errors import UsageError
from bench.run.manifest import Manifest
from bench.run.store import (
    GENERATIONS,
    GRADES,
    MANIFEST,
    VERIFICATIONS,
    DamagedRunError,
    read_manifest,
    read_part,
)

# The light columns the overview needs; the text is read per problem.
LIGHT = [
    *("key", "model", "task", "problem_id", "difficulty", "strategy", "budget", "sample"),
    *("repeat", "prompt_tokens", "thinking_tokens", "answer_tokens", "hit_budget", "finish"),
    *("gold", "verifier_score", "vote_class", "search_tokens", "search_verifier_tokens"),
    "verifier_tokens",
]
GRADE_LIGHT = ["key", "grader", "answer", "correct", "status"]
VERIFY_LIGHT = ["key", "verifier", "verifier_score"]
# Answers are searched in the overview: long ones are cut to this many characters.
SEARCHED_ANSWER_CHARS = 200


def _parts(run_dir: Path, kind: str) -> list[Path]:
    folder = run_dir / kind
    if not folder.is_dir():
        return []
    return sorted(folder.glob("part-*.parquet"), key=lambda p: p.name)


def _read(path: Path, wanted: list[str], filters: Any = None) -> pd.DataFrame:
    """The wanted columns a part has (older parts lack newer columns)."""
    names = set(pq.read_schema(path).names)
    columns = [c for c in wanted if c in names]
    if filters is None:
        return read_part(path, columns)
    return pq.read_table(path, columns=columns, filters=filters).to_pandas()


def _latest(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")


class RunView:
    """One run folder, read for the viewer."""

    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise UsageError(
                f"{run_dir} is not a folder; give a run folder (bench runs lists them)"
            )
        if not (run_dir / MANIFEST).is_file() and not (run_dir / GENERATIONS).is_dir():
            raise UsageError(
                f"{run_dir} is not a run folder (no {MANIFEST} or {GENERATIONS}/); "
                "bench runs lists the runs under results/"
            )
        self.run_dir = run_dir
        self.name = run_dir.name
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._index = pd.DataFrame()
        self._where: dict[str, list[Path]] = {}  # problem id -> generation parts holding it
        self._questions: dict[str, str] | None = None
        self.damaged: dict[str, str] = {}  # part -> why it could not be read

    # -- what the run is ---------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        try:
            return Manifest.of(read_manifest(self.run_dir))
        except DamagedRunError as exc:  # the parts can still be shown
            self.damaged[MANIFEST] = exc.reason
            return Manifest()

    def describe(self) -> dict[str, Any]:
        manifest = self.manifest
        cfg = manifest.config
        index = self.index()
        model = str(index["model"].iloc[0]) if not index.empty else cfg.model_name
        return {
            "name": self.name,
            "model": model,
            "suite": cfg.suite_name,
            "strategy": cfg.strategy_name,
            "status": manifest.status,
            "budgets": sorted(int(b) for b in index["budget"].unique()) if not index.empty else [],
            "attempts": len(index),
            "scaling": self.scaling(),
            "step_delimiter": cfg.step_delimiter,
            "damaged": dict(self.damaged),
        }

    def scaling(self) -> list[dict[str, Any]]:
        """Accuracy per budget: the run's scaling.csv when the sweep wrote it,
        else the stored verdicts so far (single samples; no interval yet)."""
        path = self.run_dir / "scaling.csv"
        if path.is_file() and self.manifest.complete:
            try:
                table = pd.read_csv(path)
            except (OSError, ValueError):  # cut off or not a table: count the verdicts instead
                table = pd.DataFrame()
        else:
            table = pd.DataFrame()
        if not table.empty and {"budget", "accuracy"} <= set(table.columns):
            if "method" in table:
                table = table[table["method"] == "sample"]
            keep = [
                c
                for c in ("strategy", "budget", "accuracy", "ci_low", "ci_high", "n")
                if c in table
            ]
            return _clean(table[keep].to_dict("records"))
        index = self.index()
        if index.empty:
            return []
        graded = with_verdict(index)
        rows = []
        for (strategy, budget), group in graded.groupby(["strategy", "budget"], sort=True):
            rows.append(
                {
                    "strategy": strategy,
                    "budget": int(budget),
                    "accuracy": float(group["correct"].astype(float).mean()),
                    "n": int(group["problem_id"].nunique()),
                }
            )
        return rows

    # -- the index ---------------------------------------------------------
    def _current(self) -> tuple:
        found = []
        for kind in (GENERATIONS, GRADES, VERIFICATIONS):
            for path in _parts(self.run_dir, kind):
                try:
                    stat = path.stat()
                except FileNotFoundError:  # set aside by a repair meanwhile
                    continue
                found.append((kind, path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def index(self) -> pd.DataFrame:
        """Every stored attempt's light columns with its latest verdict."""
        with self._lock:
            signature = self._current()
            if signature != self._signature:
                self._index, self._where = self._build()
                self._signature = signature
            return self._index

    def _light(self, path: Path, wanted: list[str]) -> pd.DataFrame:
        """A part's light columns; a damaged part is left out and named (the
        viewer shows what can be read; `bench repair` sets the rest aside)."""
        try:
            return _read(path, wanted)
        except (DamagedRunError, OSError, ValueError) as exc:
            self.damaged[str(path.relative_to(self.run_dir))] = getattr(exc, "reason", str(exc))
            return pd.DataFrame()

    def _readable(self, kind: str) -> list[Path]:
        return [
            p
            for p in _parts(self.run_dir, kind)
            if str(p.relative_to(self.run_dir)) not in self.damaged
        ]

    def _build(self) -> tuple[pd.DataFrame, dict[str, list[Path]]]:
        frames, where = [], {}
        self.damaged = {k: v for k, v in self.damaged.items() if k == MANIFEST}
        for path in _parts(self.run_dir, GENERATIONS):
            part = self._light(path, LIGHT)
            if part.empty:
                continue
            frames.append(part)
            for pid in part["problem_id"].unique():
                where.setdefault(str(pid), []).append(path)
        index = _latest(frames)
        if index.empty:
            return index, where
        grades = _latest([self._light(p, GRADE_LIGHT) for p in _parts(self.run_dir, GRADES)])
        if not grades.empty:
            index = index.merge(grades, on="key", how="left")
        scored = _latest(
            [self._light(p, VERIFY_LIGHT) for p in _parts(self.run_dir, VERIFICATIONS)]
        )
        if not scored.empty:
            mapped = index["key"].map(scored.set_index("key")["verifier_score"])
            index["verifier_score"] = mapped.where(mapped.notna(), index.get("verifier_score"))
        for column in ("correct", "answer", "status", "grader"):
            if column not in index:
                index[column] = None
        return index.reset_index(drop=True), where

    def questions(self) -> dict[str, str]:
        """problem id -> question, loaded as the sweep loaded its suite; empty
        when the suite's data is not here (the page then says so)."""
        if self._questions is None:
            self._questions = {}
            suite_cfg = self.manifest.config.section("suite")
            if suite_cfg:
                try:
                    from omegaconf import OmegaConf

                    from bench.config.schema import SuiteConfig
                    from bench.sweep.prompts import load_suite

                    suite = OmegaConf.merge(OmegaConf.structured(SuiteConfig), suite_cfg)
                    problems, _ = load_suite(suite)
                    self._questions = {p.problem_id: p.question for p in problems}
                except Exception:  # data not on this machine, an older config: no questions
                    self._questions = {}
        return self._questions

    # -- one problem -------------------------------------------------------
    def attempts(self, problem_id: str) -> pd.DataFrame:
        """Every stored attempt of one problem with its text and verdict,
        read from the parts that hold it (nothing else is decoded)."""
        return self.attempts_of([problem_id]).get(problem_id, pd.DataFrame())

    def attempts_of(self, problem_ids: list[str]) -> dict[str, pd.DataFrame]:
        """`attempts` for several problems, each part read once (an export
        goes through a run a batch of problems at a time)."""
        index = self.index()
        wanted = set(problem_ids)
        mine = index[index["problem_id"].isin(wanted)]
        if mine.empty:
            return {}
        paths = sorted({p for pid in wanted for p in self._where.get(pid, [])})
        rows = _latest(
            [_read(path, _ALL, filters=[("problem_id", "in", wanted)]) for path in paths]
        )
        rows = rows[rows["key"].isin(set(mine["key"]))]
        extra = ["key", "correct", "answer", "status", "grader", "verifier_score"]
        rows = rows.drop(columns=[c for c in extra[1:] if c in rows]).merge(
            mine[[c for c in extra if c in mine]], on="key", how="left"
        )
        details = self._grade_details(set(rows["key"]))
        if details:
            rows["detail"] = rows["key"].map(details)
        rows = self._with_verifications(rows)
        rows = rows.sort_values(["problem_id", "strategy", "sample", "repeat", "budget"])
        return {
            str(pid): group.reset_index(drop=True)
            for pid, group in rows.groupby("problem_id", sort=False)
        }

    def _with_verifications(self, rows: pd.DataFrame) -> pd.DataFrame:
        """A reward model's scores (per step too) in place of the generation's own."""
        keys = set(rows["key"])
        frames = []
        for path in self._readable(VERIFICATIONS):
            names = pq.read_schema(path).names
            frames.append(
                pq.read_table(path, columns=names, filters=[("key", "in", keys)]).to_pandas()
            )
        scored = _latest(frames)
        if scored.empty:
            return rows
        scored = scored.set_index("key")
        rows = rows.copy()
        for column in scored.columns:
            mapped = rows["key"].map(scored[column])
            rows[column] = mapped.where(mapped.notna(), rows[column]) if column in rows else mapped
        return rows

    def _grade_details(self, keys: set[str]) -> dict[str, Any]:
        """The grader's detail (the sandbox's output) for these attempts."""
        found: dict[str, Any] = {}
        for path in self._readable(GRADES):
            if "detail" not in pq.read_schema(path).names:
                continue
            part = pq.read_table(path, columns=["key", "detail"], filters=[("key", "in", keys)])
            for key, detail in zip(
                part["key"].to_pylist(), part["detail"].to_pylist(), strict=True
            ):
                found[key] = detail
        return found


_ALL = [
    *LIGHT,
    *("thinking_text", "answer_text", "verifier_step_scores", "verifier", "search_score"),
    *("seconds", "engine_tokens", "extensions", "discarded_tokens"),
]


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON has no NaN: None in its place; numpy scalars as Python's."""
    out = []
    for row in rows:
        clean = {}
        for key, value in row.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            clean[key] = value
        out.append(clean)
    return out
