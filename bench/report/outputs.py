"""The tables and figures every run directory gets, rebuilt from records alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis.metrics import scaling_table
from bench.analysis.voting import voting_table
from bench.report.plots import accuracy_vs_thinking
from bench.run.store import write_atomic

SCALING_CSV = "scaling.csv"
BY_DIFFICULTY_CSV = "scaling_by_difficulty.csv"
CURVE_PNG = "accuracy_vs_thinking.png"


@dataclass
class ScalingTables:
    """Accuracy per configuration (with vote / pass@k rows where there are
    several samples), and per difficulty level where problems have levels.
    Computed once per run and shared by the run folder's files and its report."""

    scaling: pd.DataFrame
    by_difficulty: pd.DataFrame | None


def scaling_tables(records: pd.DataFrame, subset_draws: int = 1000) -> ScalingTables:
    scaling = scaling_table(records)
    voting = voting_table(records, draws=subset_draws)
    if not voting.empty:
        scaling = pd.concat([scaling, voting[scaling.columns]], ignore_index=True)
    by_difficulty = None
    if "difficulty" in records and records["difficulty"].fillna("").ne("").any():
        # Where extra thinking pays and where it is waste: easy and hard problems apart.
        by_difficulty = scaling_table(records, by=("difficulty",))
    return ScalingTables(scaling, by_difficulty)


def write_outputs(run_dir: Path, tables: ScalingTables, plots: bool = True) -> list[str]:
    """The tables, and unless `plots` is false the curve (drawing is most of the time)."""
    scaling = tables.scaling
    write_atomic(
        lambda t: scaling.to_csv(t, index=False, float_format="%.6g"), run_dir / SCALING_CSV
    )
    written = [SCALING_CSV]
    if tables.by_difficulty is not None:
        by_difficulty = tables.by_difficulty
        write_atomic(
            lambda t: by_difficulty.to_csv(t, index=False, float_format="%.6g"),
            run_dir / BY_DIFFICULTY_CSV,
        )
        written.append(BY_DIFFICULTY_CSV)
    if plots and not scaling.empty:
        suite = ", ".join(sorted(scaling["task"].unique()))
        accuracy_vs_thinking(
            scaling, run_dir / CURVE_PNG, title=f"Accuracy vs thinking tokens ({suite})"
        )
        written.append(CURVE_PNG)
    return written
