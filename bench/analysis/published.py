"""Does a run reproduce a published figure? An experiment pack
(configs/experiment/) pins a published evaluation's settings and figures;
the run's pass@1 at its largest budget is checked against the binomial
interval a result of the published accuracy would have on this many
problems (Wilson score interval, 95%).

Outside the interval means more than sampling luck separates the run from
the paper: different weights, settings, grading or data.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bench.run.columns import BUDGET, MODEL, TASK

Z95 = 1.959963984540054


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Where the accuracy of n problems falls around a true accuracy p."""
    if n <= 0:
        return (0.0, 1.0)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def published_check(scaling: pd.DataFrame, published: dict[str, Any]) -> pd.DataFrame:
    """One row per published task: the figure, the run's accuracy, the interval, inside or not."""
    rows = []
    single = scaling[(scaling["method"] == "sample")] if "method" in scaling else scaling
    for task, entry in sorted((published or {}).items()):
        figure = float(entry["accuracy"])
        row: dict[str, Any] = {
            TASK: task,
            "published": figure,
            "source": str(entry.get("source", "")),
        }
        mine = single[single[TASK] == task]
        if mine.empty:
            rows.append(
                row
                | {
                    MODEL: "",
                    BUDGET: math.nan,
                    "n": 0,
                    "run_accuracy": math.nan,
                    "interval_low": math.nan,
                    "interval_high": math.nan,
                    "inside": "not run",
                }
            )
            continue
        for model, rows_m in mine.groupby(MODEL, sort=True):
            top = rows_m.loc[rows_m[BUDGET].idxmax()]
            low, high = wilson_interval(figure, int(top["n"]))
            accuracy = float(top["accuracy"])
            rows.append(
                row
                | {
                    MODEL: model,
                    BUDGET: int(top[BUDGET]),
                    "n": int(top["n"]),
                    "run_accuracy": accuracy,
                    "interval_low": low,
                    "interval_high": high,
                    "inside": "yes" if low <= accuracy <= high else "no",
                }
            )
    columns = [TASK, MODEL, "published", "run_accuracy", "interval_low", "interval_high"]
    return pd.DataFrame(rows, columns=[*columns, "inside", BUDGET, "n", "source"])
