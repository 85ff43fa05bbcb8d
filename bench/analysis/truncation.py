"""Chains cut by the budget beside chains that ended on their own, and three
ways to score a cut chain, so our numbers can be set beside other harnesses'.

- forced: the answer we force after the cut (end of thinking + answer cue),
  what every other table here reports;
- empty: a cut chain scores wrong, as harnesses that stop at max_tokens and
  grade whatever came out do (nothing came out after the thinking);
- in_thinking: the last answer the chain wrote inside its thinking before
  the cut, graded like an answer (grade column correct_in_thinking).

Chains that ended on their own score the same under all three.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.metrics import GROUP, graded_records
from bench.run.columns import CORRECT, CORRECT_IN_THINKING, HIT_BUDGET


def _graded(records: pd.DataFrame) -> pd.DataFrame:
    graded = graded_records(records)
    graded[CORRECT] = graded[CORRECT] > 0
    graded[HIT_BUDGET] = graded[HIT_BUDGET].fillna(False).astype(bool)
    return graded


def cut_vs_finished(records: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and budget: how many chains the budget cut, and the
    accuracy of cut and of finished chains apart."""
    rows = []
    for keys, group in _graded(records).groupby(GROUP, sort=True):
        cut, done = group[group[HIT_BUDGET]], group[~group[HIT_BUDGET]]
        rows.append(
            dict(
                zip(GROUP, keys, strict=True),
                attempts=len(group),
                cut=len(cut),
                cut_share=len(cut) / len(group),
                cut_accuracy=float(cut[CORRECT].mean()) if len(cut) else np.nan,
                finished=len(done),
                finished_accuracy=float(done[CORRECT].mean()) if len(done) else np.nan,
                accuracy=float(group[CORRECT].mean()),
            )
        )
    columns = [*GROUP, "attempts", "cut", "cut_share", "cut_accuracy", "finished"]
    return pd.DataFrame(rows, columns=[*columns, "finished_accuracy", "accuracy"])


def truncation_policies(records: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per configuration and budget under each truncation policy.
    in_thinking is NaN where cut chains' thinking was never graded (runs
    stored before it was: `bench grade RUN` fills it in)."""
    rows = []
    for keys, group in _graded(records).groupby(GROUP, sort=True):
        cut = group[HIT_BUDGET].to_numpy()
        forced = group[CORRECT].to_numpy()
        empty = forced & ~cut
        in_thinking = np.nan
        if CORRECT_IN_THINKING in group:
            thought = group[CORRECT_IN_THINKING]
            if not cut.any() or thought[cut].notna().all():
                scores = np.where(cut, thought.fillna(False).astype(bool), forced)
                in_thinking = float(scores.mean())
        rows.append(
            dict(
                zip(GROUP, keys, strict=True),
                attempts=len(group),
                cut_share=float(cut.mean()),
                forced=float(forced.mean()),
                empty=float(empty.mean()),
                in_thinking=in_thinking,
            )
        )
    columns = [*GROUP, "attempts", "cut_share", "forced", "empty", "in_thinking"]
    return pd.DataFrame(rows, columns=columns)
