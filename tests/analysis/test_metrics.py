import numpy as np
import pandas as pd

from bench.analysis.adherence import adherence_summary
from bench.analysis.metrics import bootstrap_ci, scaling_table


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small = rng.random(40) < 0.6
    large = rng.random(4000) < 0.6
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s
    assert lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s)
    # binomial standard error check: 95% width ~ 4 * sqrt(p(1-p)/n)
    assert abs((hi_l - lo_l) - 3.92 * np.sqrt(0.24 / 4000)) < 0.01


def test_bootstrap_degenerate():
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)
    assert np.isnan(bootstrap_ci(np.array([]))[0])


def _records():
    rows = []
    for problem in range(4):
        for sample in range(2):
            rows.append(
                dict(
                    model="m",
                    task="t",
                    strategy="single",
                    budget=16,
                    problem_id=str(problem),
                    sample=sample,
                    correct=problem < 2 or sample == 0,
                    prompt_tokens=10,
                    thinking_tokens=16,
                    answer_tokens=4,
                    hit_budget=True,
                    finish="cut",
                )
            )
    return pd.DataFrame(rows)


def test_scaling_averages_samples_within_a_problem():
    table = scaling_table(_records())
    row = table.iloc[0]
    assert row["n"] == 4  # problems, not samples
    assert row["accuracy"] == (1 + 1 + 0.5 + 0.5) / 4
    assert row["mean_total_tokens"] == 30


def test_ungraded_records_are_left_out():
    records = _records()
    records["correct"] = records["correct"].astype("boolean")
    records.loc[0, "correct"] = pd.NA  # problem 0, sample 0
    records.loc[4, "correct"] = pd.NA  # problem 2, sample 0: only its wrong sample is left
    assert scaling_table(records).iloc[0]["accuracy"] == (1 + 1 + 0 + 0.5) / 4


def test_adherence_flags_thinking_past_budget():
    records = _records()
    assert adherence_summary(records, [16])["ok"]
    records.loc[3, "thinking_tokens"] = 17
    summary = adherence_summary(records, [16])
    assert not summary["ok"] and summary["over_budget"] == 1


def test_adherence_compares_token_counts_with_the_engine():
    records = _records()
    records["engine_tokens"] = (
        records["prompt_tokens"] + records["thinking_tokens"] + records["answer_tokens"]
    )
    summary = adherence_summary(records, [16])
    assert summary["ok"] and summary["token_count_checked"] == len(records)
    records.loc[2, "engine_tokens"] += 1
    summary = adherence_summary(records, [16])
    assert not summary["ok"] and summary["token_count_mismatches"] == 1
