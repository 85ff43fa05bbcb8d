"""Seed variance: `repeats=R` runs every configuration under R seeds.

pass@1 is averaged over every sample of every repeat; the spread across
seeds (standard deviation, min and max of the per-repeat accuracy) says how
much a single run of this size could have differed by luck of sampling,
beside the bootstrap interval over problems (how much it could differ on
other problems of the same kind). Greedy decoding has no seed spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.metrics import GROUP, bootstrap_ci, graded_records
from bench.run.columns import CORRECT, PROBLEM_ID, REPEAT


def seed_variance(records: pd.DataFrame, *, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    graded = graded_records(records)
    rows = []
    for keys, group in graded.groupby(GROUP, sort=True):
        per_repeat = group.groupby(REPEAT)[CORRECT].mean().to_numpy()
        per_problem = group.groupby(PROBLEM_ID)[CORRECT].mean().to_numpy()
        low, high = bootstrap_ci(per_problem, resamples=resamples, seed=seed)
        spread = per_repeat.size > 1
        rows.append(
            dict(
                zip(GROUP, keys, strict=True),
                repeats=int(per_repeat.size),
                n=int(per_problem.size),
                pass_at_1=float(per_repeat.mean()),
                seed_std=float(per_repeat.std(ddof=1)) if spread else np.nan,
                seed_min=float(per_repeat.min()),
                seed_max=float(per_repeat.max()),
                ci_low=low,
                ci_high=high,
            )
        )
    columns = [*GROUP, "repeats", "n", "pass_at_1", "seed_std", "seed_min", "seed_max"]
    return pd.DataFrame(rows, columns=[*columns, "ci_low", "ci_high"])
