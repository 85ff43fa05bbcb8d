"""The dials side by side at equal compute (bench/analysis/strategies.py):
which dial a strategies-table row turns, and the best accuracy each dial
reaches within each total-token level, checked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.analysis.strategies import DIALS, dial, matched_compute


def _row(strategy, method, k, accuracy, tokens, model="m", budget=128):
    return dict(
        model=model, task="chain", strategy=strategy, budget=budget, method=method, k=k,
        n=60, accuracy=accuracy, ci_low=accuracy, ci_high=accuracy,
        total_tokens_per_problem=tokens,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "method", "k", "expected"),
    [
        ("single", "pass", 1, "think longer"),
        ("wait", "pass", 1, "think longer"),
        ("native", "pass", 1, "think longer"),
        ("sc", "maj", 1, "think longer"),  # one sample: only its budget moved
        ("bon", "bon", 1, "think longer"),
        ("sc", "maj", 4, "sample more"),
        ("bon", "maj", 8, "sample more"),
        ("bon", "bon", 2, "verify"),
        ("bon", "wbon", 8, "verify"),
        ("beam", "bon", 8, "search"),
        ("beam", "wbon", 8, "search"),
        ("dvts", "bon", 1, "search"),  # a search is a search at any k
    ],
)
def test_each_row_turns_one_dial(strategy, method, k, expected):
    assert dial(strategy, method, k) == expected


def test_best_accuracy_within_each_level_by_hand():
    table = pd.DataFrame(
        [
            _row("bon", "maj", 1, 0.50, 60, budget=64),  # think longer
            _row("bon", "maj", 1, 0.60, 65),
            _row("bon", "maj", 4, 0.75, 260),  # sample more
            _row("bon", "maj", 8, 0.90, 520),
            _row("bon", "bon", 2, 0.80, 262),  # verify
            _row("bon", "bon", 8, 0.98, 1050),
            _row("bon", "wbon", 8, 0.97, 1050),
            _row("beam", "bon", 8, 1.00, 4100),  # search
        ]
    )
    out = matched_compute(table).set_index("dial")
    assert list(out.index) == list(DIALS)
    levels = [c for c in out.columns if c.startswith("<=")]
    assert levels == [f"<={2**e}" for e in range(6, 14)]  # 64 .. 8192: ceil(log2) of the ends
    assert out.loc["think longer", "<=64"] == 0.50  # 65 tokens is past 64
    assert out.loc["think longer", "<=128"] == 0.60
    assert math.isnan(out.loc["sample more", "<=256"])  # 260 tokens: nothing that cheap
    assert out.loc["sample more", "<=512"] == 0.75
    assert out.loc["sample more", "<=1024"] == 0.90
    assert out.loc["verify", "<=512"] == 0.80
    assert out.loc["verify", "<=1024"] == 0.80  # 1050 is past 1024
    assert out.loc["verify", "<=2048"] == 0.98  # the best of bon and wbon
    assert out.loc["search"].isna().sum() == len(levels) - 1
    assert out.loc["search", "<=8192"] == 1.00
    for _, row in out[levels].iterrows():  # a larger allowance never loses accuracy
        values = row.dropna().to_numpy()
        assert (values[1:] >= values[:-1]).all()


def test_models_keep_their_own_rows_and_a_wide_range_thins_the_levels():
    table = pd.DataFrame(
        [
            _row("single", "pass", 1, 0.2, 3, model="a"),
            _row("single", "pass", 1, 0.4, 30, model="b"),
            _row("sc", "maj", 64, 0.9, 300_000, model="b"),
        ]
    )
    out = matched_compute(table, columns=8)
    assert list(zip(out["model"], out["dial"], strict=True)) == [
        ("a", "think longer"),
        ("b", "think longer"),
        ("b", "sample more"),
    ]
    levels = [int(c[2:]) for c in out.columns if c.startswith("<=")]
    assert len(levels) <= 8
    assert levels[-1] >= 300_000  # the dearest point still has a level
    assert levels[0] <= 4  # ... and so does the cheapest
    ratios = {b // a for a, b in zip(levels, levels[1:], strict=False)}
    assert len(ratios) == 1 and ratios.pop() > 2  # evenly spaced, wider than 2x


def test_no_points_no_table():
    assert matched_compute(pd.DataFrame()).empty
