"""Budget 0 beside the non-thinking mode: do they agree?

Budget 0 forces the answer right after an empty thinking block; a hybrid
model's non-thinking mode (Qwen3's enable_thinking=False) is trained to answer
without thinking. Records of the mode carry the model's name with
" (non-thinking)" (config.record_model_name). On the problems both answered,
the paired difference of accuracy gets a bootstrap interval over problems;
they agree when that interval holds 0.
"""

from __future__ import annotations

import pandas as pd

from bench.analysis.metrics import bootstrap_ci, graded_records
from bench.run.columns import BUDGET, CORRECT, MODEL, PROBLEM_ID, TASK

SUFFIX = " (non-thinking)"


def non_thinking_agreement(records: pd.DataFrame, *, resamples: int = 2000) -> pd.DataFrame:
    graded = graded_records(records)
    rows = []
    modes = sorted(m for m in graded[MODEL].unique() if str(m).endswith(SUFFIX))
    for mode in modes:
        model = mode[: -len(SUFFIX)]
        zero = graded[(graded[MODEL] == model) & (graded[BUDGET] == 0)]
        off = graded[graded[MODEL] == mode]
        for task in sorted(set(zero[TASK]) & set(off[TASK])):
            a = zero[zero[TASK] == task].groupby(PROBLEM_ID)[CORRECT].mean()
            b = off[off[TASK] == task].groupby(PROBLEM_ID)[CORRECT].mean()
            common = a.index.intersection(b.index)
            if common.empty:
                continue
            diff = (b[common] - a[common]).to_numpy()
            low, high = bootstrap_ci(diff, resamples=resamples)
            rows.append(
                {
                    MODEL: model,
                    TASK: task,
                    "problems": len(common),
                    "budget0_accuracy": float(a[common].mean()),
                    "non_thinking_accuracy": float(b[common].mean()),
                    "difference": float(diff.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    # Problems on which the two score differently.
                    "disagreements": int((diff != 0).sum()),
                    "agree": "yes" if low <= 0 <= high else "no",
                }
            )
    columns = [MODEL, TASK, "problems", "budget0_accuracy", "non_thinking_accuracy"]
    return pd.DataFrame(
        rows, columns=[*columns, "difference", "ci_low", "ci_high", "disagreements", "agree"]
    )
