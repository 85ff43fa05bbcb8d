"""The analyses the field asks of a thinking-budget evaluation, each pinned on
synthetic records whose answers are computed by hand: anytime profiles and
flips, the overthinking threshold, cut vs finished chains and truncation
policies, seed variance, compute-optimal settings, budget 0 vs the
non-thinking mode, prices as paid, and the published-figure check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.anytime import (
    anytime_profile,
    difficulty_key,
    flips_table,
    overthinking,
    threshold_index,
)
from bench.analysis.compute_optimal import allocate, compute_optimal
from bench.analysis.cost import PricingError, cost_table, price_records
from bench.analysis.modes import non_thinking_agreement
from bench.analysis.published import published_check, wilson_interval
from bench.analysis.seeds import seed_variance
from bench.analysis.truncation import cut_vs_finished, truncation_policies


def records_from(chains: dict[str, list[int]], budgets: list[int], **extra) -> pd.DataFrame:
    """One record per chain x budget; `chains` maps problem id -> 0/1 per budget."""
    rows = []
    for problem, verdicts in chains.items():
        for budget, ok in zip(budgets, verdicts, strict=True):
            if ok is None:
                continue
            rows.append(
                {
                    "model": "m",
                    "task": "t",
                    "strategy": "single",
                    "problem_id": problem,
                    "sample": 0,
                    "budget": budget,
                    "correct": bool(ok),
                    "difficulty": extra.get("difficulty", {}).get(problem, ""),
                    "thinking_tokens": budget,
                    "answer_tokens": 0,
                    "prompt_tokens": 10,
                    "hit_budget": False,
                }
            )
    return pd.DataFrame(rows)


BUDGETS = [0, 8, 16, 32]
CHAINS = {
    "a": [0, 1, 1, 1],  # right from 8 on
    "b": [1, 0, 1, 0],  # never stable; flips 1 up, 2 down
    "c": [0, 1, 0, 1],  # stable only at 32
    "d": [1, 1, 1, 1],  # right at once
    "e": [0, 1, None, 1],  # a budget missing: left out
}


def test_anytime_profile_by_hand():
    profile = anytime_profile(records_from(CHAINS, BUDGETS)).set_index("problem_id")
    assert sorted(profile.index) == ["a", "b", "c", "d"]
    assert profile.loc["a", "first_stable_budget"] == 8
    assert math.isnan(profile.loc["b", "first_stable_budget"])
    assert profile.loc["c", "first_stable_budget"] == 32
    assert profile.loc["d", "first_stable_budget"] == 0
    assert profile.loc["b", ["wrong_to_right", "right_to_wrong"]].tolist() == [1, 2]
    assert profile.loc["c", ["wrong_to_right", "right_to_wrong"]].tolist() == [2, 1]
    assert profile.loc["d", ["wrong_to_right", "right_to_wrong"]].tolist() == [0, 0]
    assert not profile.loc["b", "right_at_largest"] and profile.loc["c", "right_at_largest"]


def test_flips_per_step_and_difficulty_by_hand():
    levels = {"a": "2", "b": "10", "c": "2", "d": "10"}
    table = flips_table(records_from(CHAINS, BUDGETS, difficulty=levels))
    overall = table[table["difficulty"] == "all"]
    # 0->8: a, c up; b down.  8->16: b up; c down.  16->32: c up; b down.
    assert overall[["from_budget", "to_budget"]].values.tolist() == [[0, 8], [8, 16], [16, 32]]
    assert overall["wrong_to_right"].tolist() == [2, 1, 1]
    assert overall["right_to_wrong"].tolist() == [1, 1, 1]
    assert overall["net"].tolist() == [1, 0, 0]
    assert (overall["chains"] == 4).all()
    # Levels in natural order (2 before 10), each with its own chains.
    assert table["difficulty"].drop_duplicates().tolist() == ["all", "2", "10"]
    two = table[table["difficulty"] == "2"]
    assert two["wrong_to_right"].tolist() == [2, 0, 1]
    assert two["right_to_wrong"].tolist() == [0, 1, 0]


def test_threshold_is_the_first_budget_better_than_the_last():
    # right counts per budget; the last budget has 2 right.
    assert threshold_index(np.array([1, 3, 3, 2]))[0] == 1
    assert threshold_index(np.array([2, 2, 2, 2]))[0] == 3  # equal is not more: none
    assert threshold_index(np.array([0, 1, 2, 3]))[0] == 3  # rising: none
    assert threshold_index(np.array([5, 1, 1, 4]))[0] == 0  # budget 0 already beats the end
    assert threshold_index(np.array([[1, 3, 2], [3, 1, 2]])).tolist() == [1, 0]
    assert threshold_index(np.array([4])).tolist() == [0]  # one budget: none (its index)


def test_one_budget_has_no_flips_and_no_threshold():
    records = records_from({"a": [1], "b": [0]}, [0])
    assert flips_table(records).empty
    row = overthinking(records, resamples=50).iloc[0]
    assert math.isinf(row["threshold_budget"]) and row["share_with_threshold"] == 0
    profile = anytime_profile(records).set_index("problem_id")
    assert profile.loc["a", "first_stable_budget"] == 0
    assert math.isnan(profile.loc["b", "first_stable_budget"])


def test_overthinking_threshold_with_interval():
    # 10 identical problems that are right at 8 and 16 and wrong at 32: every
    # resample agrees, so the interval is the point.
    chains = {f"p{i}": [0, 1, 1, 0] for i in range(10)}
    row = overthinking(records_from(chains, BUDGETS), resamples=200).iloc[0]
    assert row["threshold_budget"] == 8
    assert row["ci_low"] == 8 and row["ci_high"] == 8
    assert row["share_with_threshold"] == 1.0
    assert (row["wrong_to_right"], row["right_to_wrong"]) == (10, 10)
    # Rising chains: no overthinking in the sweep (inf), in every resample.
    rising = {f"p{i}": [0, 0, 1, 1] for i in range(10)}
    row = overthinking(records_from(rising, BUDGETS), resamples=200).iloc[0]
    assert math.isinf(row["threshold_budget"]) and math.isinf(row["ci_low"])
    assert row["share_with_threshold"] == 0.0


def test_overthinking_interval_widens_with_mixed_problems():
    chains = {f"up{i}": [0, 0, 1, 1] for i in range(6)}
    chains |= {f"down{i}": [0, 1, 1, 0] for i in range(5)}
    # Overall: right counts 0, 5, 11, 6 -> 8 is the first budget with more
    # right than the last (5 < 6: no; 11 > 6 at 16). So the threshold is 16.
    row = overthinking(records_from(chains, BUDGETS), resamples=500).iloc[0]
    assert row["threshold_budget"] == 16
    assert row["ci_low"] <= 16 <= row["ci_high"]
    assert 0 < row["share_with_threshold"] <= 1


def test_difficulty_order_is_natural():
    labels = ["Level 10", "Level 2", "hard", "1", "12", "2"]
    assert sorted(labels, key=difficulty_key) == ["1", "2", "12", "Level 2", "Level 10", "hard"]


def truncated_records() -> pd.DataFrame:
    # At budget 8: four chains, two cut. Cut ones: wrong as forced, one of them
    # has the right answer inside its thinking. Finished: one right, one wrong.
    rows = [
        (8, True, False, True),
        (8, True, False, False),
        (8, False, True, None),
        (8, False, False, None),
        # At 16: one cut chain right as forced but with nothing right in its thinking.
        (16, True, True, False),
        (16, False, True, None),
    ]
    return pd.DataFrame(
        [
            {
                "model": "m",
                "task": "t",
                "strategy": "single",
                "problem_id": f"p{i % 4}",
                "sample": 0,
                "budget": b,
                "hit_budget": cut,
                "correct": ok,
                "correct_in_thinking": thought,
            }
            for i, (b, cut, ok, thought) in enumerate(rows)
        ]
    )


def test_cut_vs_finished_by_hand():
    table = cut_vs_finished(truncated_records()).set_index("budget")
    assert table.loc[8, ["cut", "finished"]].tolist() == [2, 2]
    assert table.loc[8, "cut_accuracy"] == 0.0 and table.loc[8, "finished_accuracy"] == 0.5
    assert table.loc[8, "cut_share"] == 0.5 and table.loc[8, "accuracy"] == 0.25
    assert table.loc[16, "cut_accuracy"] == 1.0 and table.loc[16, "finished_accuracy"] == 1.0


def test_truncation_policies_by_hand():
    table = truncation_policies(truncated_records()).set_index("budget")
    assert table.loc[8, ["forced", "empty", "in_thinking"]].tolist() == [0.25, 0.25, 0.5]
    assert table.loc[16, ["forced", "empty", "in_thinking"]].tolist() == [1.0, 0.5, 0.5]
    # A run graded before correct_in_thinking existed: that policy is unknown, not 0.
    old = truncated_records().drop(columns="correct_in_thinking")
    assert truncation_policies(old)["in_thinking"].isna().all()
    unknown = truncated_records()
    unknown["correct_in_thinking"] = None
    assert truncation_policies(unknown)["in_thinking"].isna().all()


def test_seed_variance_by_hand():
    rows = []
    # Three repeats of two problems: repeat accuracies 0.5, 1.0, 0.0.
    for repeat, verdicts in enumerate([(1, 0), (1, 1), (0, 0)]):
        for problem, ok in zip(("p", "q"), verdicts, strict=True):
            rows.append(
                dict(model="m", task="t", strategy="sc", budget=8, problem_id=problem,
                     sample=0, repeat=repeat, correct=bool(ok))
            )  # fmt: skip
    row = seed_variance(pd.DataFrame(rows), resamples=200).iloc[0]
    assert row["repeats"] == 3 and row["n"] == 2
    assert row["pass_at_1"] == pytest.approx(0.5)
    assert row["seed_std"] == pytest.approx(0.5)  # sample std of 0.5, 1, 0
    assert (row["seed_min"], row["seed_max"]) == (0.0, 1.0)
    # Bootstrap over problems of their means (2/3 and 1/3).
    assert row["ci_low"] == pytest.approx(1 / 3) and row["ci_high"] == pytest.approx(2 / 3)
    single = seed_variance(pd.DataFrame(rows[:2])).iloc[0]  # no repeat spread with one seed
    assert single["repeats"] == 1 and math.isnan(single["seed_std"])


def test_allocate_spends_on_the_hard_level():
    # Two equal levels, settings cost 0, 8, 32. Easy is right from 8, hard only at 32.
    accuracy = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    cost = np.array([[0.0, 8.0, 32.0], [0.0, 8.0, 32.0]])
    weights = np.array([0.5, 0.5])
    assert allocate(accuracy, cost, weights, 20).tolist() == [1, 2]  # 8 + 32 -> mean 20
    assert allocate(accuracy, cost, weights, 19.9).tolist() == [1, 0]  # 32 no longer fits
    assert allocate(accuracy, cost, weights, 32).tolist() == [1, 2]  # cheaper on ties
    assert allocate(accuracy, cost, weights, -1).tolist() == [0, 0]  # nothing fits: cheapest


def test_compute_optimal_beats_the_single_setting_on_held_out_problems():
    budgets = [0, 8, 32]
    easy = {f"e{i}": [0, 1, 1] for i in range(20)}
    hard = {f"h{i}": [0, 0, 1] for i in range(20)}
    levels = dict.fromkeys(easy, "1") | dict.fromkeys(hard, "2")
    records = records_from(easy | hard, budgets, difficulty=levels)
    table = compute_optimal(records, splits=10).set_index("spend_tokens")
    # Spend levels are the settings' mean costs: 0, 8 and 32 tokens.
    assert table.index.tolist() == [0.0, 8.0, 32.0]
    at8 = table.loc[8.0]
    # Within 8 tokens a problem: the single best is b=8 (the easy half right);
    # per difficulty the same (32 for the hard half does not fit).
    assert at8["single_setting"] == "b=8,k=1"
    assert at8["policy_accuracy"] == pytest.approx(at8["single_accuracy"])
    at32 = table.loc[32.0]
    assert at32["policy_accuracy"] == 1.0
    # Per difficulty: easy gets 8, hard 32, so it spends less than b=32 for all.
    assert at32["per_difficulty"] == "1: b=8,k=1; 2: b=32,k=1"
    assert at32["policy_tokens"] < at32["single_tokens"] == 32.0


def test_non_thinking_agreement_by_hand():
    rows = []
    for model, budget, verdicts in [
        ("m", 0, [1, 0, 0, 1]),
        ("m", 8, [1, 1, 1, 1]),  # other budgets do not matter
        ("m (non-thinking)", 0, [1, 0, 1, 1]),
    ]:
        for i, ok in enumerate(verdicts):
            rows.append(
                dict(model=model, task="t", strategy="single", budget=budget,
                     problem_id=f"p{i}", sample=0, correct=bool(ok))
            )  # fmt: skip
    row = non_thinking_agreement(pd.DataFrame(rows)).iloc[0]
    assert (row["budget0_accuracy"], row["non_thinking_accuracy"]) == (0.5, 0.75)
    assert row["difference"] == 0.25 and row["disagreements"] == 1
    assert row["agree"] == "yes"  # one problem in four: the interval holds 0
    # Far apart on many problems: they do not agree.
    rows = [
        dict(model=m, task="t", strategy="single", budget=0, problem_id=f"p{i}", sample=0,
             correct=(m == "m"))
        for m in ("m", "m (non-thinking)") for i in range(30)
    ]  # fmt: skip
    row = non_thinking_agreement(pd.DataFrame(rows)).iloc[0]
    assert row["difference"] == -1.0 and row["agree"] == "no"
    # Without a non-thinking run there is no table.
    assert non_thinking_agreement(pd.DataFrame(rows[:30])).empty


def priced(pricing_api: dict) -> pd.DataFrame:
    # Two problems, two samples each; prompt 1000, thinking 100, answer 10 tokens.
    rows = [
        dict(model="m", task="t", strategy="sc", budget=8, problem_id=p, sample=s, correct=True,
             prompt_tokens=1000, thinking_tokens=100, answer_tokens=10, seconds=3600.0 * (s + 1))
        for p in ("a", "b") for s in (0, 1)
    ]  # fmt: skip
    pricing = {"device_hours": {"cpu": {"usd_per_hour": 1.0}}, "api": {"m": pricing_api}}
    return price_records(pd.DataFrame(rows), pricing, {"m": {"device": "cpu"}})


def test_cached_prompts_and_batch_discount_by_hand():
    api = {"input_per_m": 1.0, "output_per_m": 10.0, "reasoning_per_m": 5.0}
    plain = priced(api)
    # list: 1000 x 1 + 100 x 5 + 10 x 10 = 1600 per million
    assert plain["usd_api"].tolist() == pytest.approx([0.0016] * 4)
    assert plain["usd_api_paid"].tolist() == pytest.approx([0.0016] * 4)
    cached = priced(api | {"cached_input_per_m": 0.1, "batch_discount": 0.5})
    # first sample of a problem: full prompt; the second: cached (100 + 500 + 100 = 700).
    assert cached.sort_values(["problem_id", "sample"])["usd_api_paid"].tolist() == pytest.approx(
        [0.0008, 0.00035, 0.0008, 0.00035]
    )
    table = cost_table(cached).iloc[0]
    assert table["usd_api"] == pytest.approx(0.0064)
    assert table["usd_api_paid"] == pytest.approx(0.0023)
    # Per problem: device $1 + $2 = $3 for each problem, so p50 = p95 = 3; tokens 2 x 110.
    assert table["usd_per_problem_p50"] == pytest.approx(3.0)
    assert table["usd_per_problem_p95"] == pytest.approx(3.0)
    assert table["tokens_per_problem_p50"] == 220


def test_cost_distribution_quantiles():
    rows = [
        dict(model="m", task="t", strategy="single", budget=8, problem_id=f"p{i}", sample=0,
             correct=True, prompt_tokens=0, thinking_tokens=i, answer_tokens=0, seconds=3600.0 * i)
        for i in range(1, 101)
    ]  # fmt: skip
    pricing = {"device_hours": {"cpu": {"usd_per_hour": 1.0}}}
    table = cost_table(price_records(pd.DataFrame(rows), pricing, {"m": {"device": "cpu"}}))
    row = table.iloc[0]
    assert row["usd_per_problem_p50"] == pytest.approx(50.5)
    assert row["usd_per_problem_p95"] == pytest.approx(95.05)
    assert row["tokens_per_problem_p95"] == pytest.approx(95.05)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"batch_discount": 1.0}, "batch_discount"),
        ({"batch_discount": -0.1}, "batch_discount"),
        ({"cached_input_per_m": -1}, "cached_input_per_m"),
    ],
)
def test_bad_prices_are_named(change, fragment):
    with pytest.raises(PricingError, match=fragment):
        priced({"input_per_m": 1.0, "output_per_m": 1.0} | change)


def test_wilson_interval_by_hand():
    low, high = wilson_interval(0.5, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    low, high = wilson_interval(0.0, 30)
    assert low == 0.0 and high == pytest.approx(0.1135, abs=1e-4)
    assert wilson_interval(0.9, 0) == (0.0, 1.0)


def test_published_check_marks_inside_and_outside():
    scaling = pd.DataFrame(
        [
            dict(model="m", task="math500", strategy="sc", budget=b, n=500, accuracy=acc,
                 method="sample", k=1)
            for b, acc in [(1024, 0.5), (32768, 0.82)]
        ]
        + [dict(model="m", task="aime24", strategy="sc", budget=32768, n=30, accuracy=0.6,
                method="sample", k=1),
           dict(model="m", task="aime24", strategy="sc", budget=32768, n=30, accuracy=0.3,
                method="maj", k=64)]
    )  # fmt: skip
    published = {
        "math500": {"accuracy": 0.839, "source": "paper"},
        "aime24": {"accuracy": 0.289, "source": "paper"},
        "gsm8k": {"accuracy": 0.9, "source": "paper"},
    }
    table = published_check(scaling, published).set_index("task")
    # MATH-500 at the largest budget: 0.82 within 0.839's interval on 500 problems.
    low, high = wilson_interval(0.839, 500)
    assert table.loc["math500", "run_accuracy"] == 0.82 and low <= 0.82 <= high
    assert table.loc["math500", "inside"] == "yes" and table.loc["math500", "budget"] == 32768
    # AIME: pass@1 (method sample) 0.6 is far above 0.289 on 30 problems; maj@64 is not used.
    assert table.loc["aime24", "run_accuracy"] == 0.6 and table.loc["aime24", "inside"] == "no"
    assert table.loc["gsm8k", "inside"] == "not run"
    # Just outside the interval is outside.
    edge = scaling.assign(accuracy=np.where(scaling["budget"] == 32768, low - 1e-6, 0.5))
    assert published_check(edge, published).set_index("task").loc["math500", "inside"] == "no"
