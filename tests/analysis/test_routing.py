"""Routing policies on synthetic records whose right answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import bench

from bench.analysis.cost import pareto_frontier
from bench.analysis.routing import build_tiers, evaluate, verdict


def records(cheap_right, dear_right, cheap_cut, difficulty, agreement=None) -> pd.DataFrame:
    """Two tiers (budgets 16 and 64) over len(cheap_right) problems; cost 1 and 4."""
    rows = []
    for i in range(len(cheap_right)):
        for budget, right, cut, cost in (
            (16, cheap_right[i], cheap_cut[i], 1.0),
            (64, dear_right[i], False, 4.0),
        ):
            samples = 1 if agreement is None else 4
            for sample in range(samples):
                agree = agreement is None or sample < agreement[i] * samples
                rows.append(
                    {
                        "model": "m",
                        "task": "t",
                        "strategy": "single",
                        "budget": budget,
                        "problem_id": f"p{i:02d}",
                        "sample": sample,
                        "difficulty": difficulty[i],
                        "correct": bool(right),
                        "hit_budget": bool(cut),
                        "answer": "1",
                        "vote_class": 0 if agree else sample,
                        "usd": cost,
                        "thinking_tokens": budget,
                        "answer_tokens": 2,
                    }
                )
    return pd.DataFrame(rows)


def by_policy(table: pd.DataFrame, policy: str, contains: str = "") -> pd.Series:
    rows = table[
        (table["policy"] == policy) & table["parameters"].str.contains(contains, regex=False)
    ]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_single_oracle_and_cascades_exactly():
    n = 20  # every problem alike: the cheap tier is cut and wrong, the dear one right
    table = evaluate(build_tiers(records([False] * n, [True] * n, [True] * n, ["x"] * n)), splits=5)
    cheap, dear = by_policy(table, "single", "· 16"), by_policy(table, "single", "· 64")
    assert (cheap["accuracy"], cheap["mean_cost_usd"]) == (0.0, 1.0)
    assert (dear["accuracy"], dear["mean_cost_usd"]) == (1.0, 4.0)
    oracle = by_policy(table, "oracle")
    assert (oracle["accuracy"], oracle["mean_cost_usd"]) == (1.0, 4.0)
    cut = by_policy(table, "cascade", "if cut")
    assert (cut["accuracy"], cut["mean_cost_usd"], cut["escalated_share"]) == (1.0, 5.0, 1.0)
    unanswered = by_policy(table, "cascade", "if no_answer")
    assert (unanswered["accuracy"], unanswered["mean_cost_usd"]) == (0.0, 1.0)
    assert unanswered["escalated_share"] == 0.0


def test_difficulty_router_sends_each_level_to_the_cheapest_tier_that_solves_it():
    n = 20
    easy = [i % 2 == 0 for i in range(n)]
    table = evaluate(
        build_tiers(
            records(easy, [True] * n, [False] * n, ["easy" if e else "hard" for e in easy])
        ),
        splits=10,
    )
    router, oracle = by_policy(table, "difficulty"), by_policy(table, "oracle")
    assert router["accuracy"] == 1.0 and oracle["accuracy"] == 1.0
    # easy problems cost 1, hard ones 4: the router pays exactly what the oracle pays
    assert router["mean_cost_usd"] == pytest.approx(oracle["mean_cost_usd"])
    assert 1.0 < router["mean_cost_usd"] < 4.0


def test_agreement_threshold_is_fitted_on_the_other_half():
    n = 40
    # The cheap tier is right exactly where its samples agree (agreement 1.0),
    # wrong where they split (0.25): escalating below tau in (0.25, 1.0] is ideal.
    agree = [1.0 if i % 2 else 0.25 for i in range(n)]
    right = [a == 1.0 for a in agree]
    t = build_tiers(records(right, [True] * n, [False] * n, ["x"] * n, agreement=agree))
    table = evaluate(t, splits=10)
    cascade = by_policy(table, "cascade", "if agreement")
    assert cascade["accuracy"] == 1.0
    assert cascade["mean_cost_usd"] == pytest.approx(1.0 + 4.0 * 0.5, abs=0.3)
    assert 0.25 < cascade["tau"] <= 1.0


def test_the_oracle_is_never_dominated_and_the_verdict_names_a_policy():
    rng = np.random.default_rng(1)
    n = 30
    table = evaluate(
        build_tiers(
            records(rng.random(n) < 0.4, rng.random(n) < 0.8, rng.random(n) < 0.5, ["x"] * n)
        ),
        splits=10,
    )
    front = pareto_frontier(table, cost="mean_cost_usd")
    oracle = table["policy"] == "oracle"
    assert front[oracle].all()
    assert table.loc[oracle, "accuracy"].iloc[0] >= table["accuracy"].max() - 1e-12
    assert "cheaper" in verdict(table)


@pytest.mark.slow
def test_bench_route_on_a_run_writes_table_plot_and_report_section(tmp_path):
    assert (
        bench(
            "sweep", "engine=fake", "suite.limit=12", "run_name=r", f"results_dir={tmp_path}"
        ).returncode
        == 0
    )
    run = tmp_path / "r"
    result = bench("route", str(run))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(run / "routing.csv")
    assert {"single", "oracle", "difficulty", "cascade"} <= set(table["policy"])
    assert (run / "routing.png").is_file() and "Cheapest within" in (run / "routing.md").read_text()
    assert bench("report", str(run)).returncode == 0
    page = (run / "report" / "index.html").read_text()
    assert "Routing policies" in page
