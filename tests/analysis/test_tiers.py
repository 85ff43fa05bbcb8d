"""The tiered trade-off: a model that answers at once against one that
thinks, and the routing between them.

Unit checks on records whose right answers are set by hand (which tier the
difficulty router sends each level to, the one-line verdict, who wins at
matched cost per level); then the truth test on the reference models
(models/instant and models/reasoner on the chain suite), whose per-length
accuracy and cost predict where the router must split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from bench.analysis.compare import matched_cost_verdicts, paired_by
from bench.analysis.routing import build_tiers, difficulty_choices, evaluate, tiered_verdict

LEVELS = range(1, 13)


def tier_records(fast_right, per_level: int = 6, task: str = "chain") -> pd.DataFrame:
    """`fast` answers at budget 0 (cost 1) and is right where fast_right(k);
    `thinker` at budget 8 (cost 2) is right on k = 1 only, at budget 64
    (cost 2 + k) on every level."""
    rows = []
    for k in LEVELS:
        for i in range(per_level):
            problem = f"{task}-k{k:02d}-{i:04d}"
            for model, budget, right, cost in (
                ("fast", 0, fast_right(k, i), 1.0),
                ("thinker", 8, k == 1, 2.0),
                ("thinker", 64, True, 2.0 + k),
            ):
                rows.append(
                    {
                        "model": model,
                        "task": task,
                        "strategy": "single",
                        "budget": budget,
                        "problem_id": problem,
                        "sample": 0,
                        "difficulty": str(k),
                        "correct": bool(right),
                        "hit_budget": False,
                        "answer": "1",
                        "usd": cost,
                        "thinking_tokens": budget,
                        "answer_tokens": 2,
                    }
                )
    return pd.DataFrame(rows)


def test_the_difficulty_router_splits_where_the_fast_model_stops_being_right():
    tiers = build_tiers(tier_records(lambda k, i: k <= 3))
    choices = difficulty_choices(tiers, splits=10)
    # Numeric order: "10" after "9", not after "1".
    assert choices["difficulty"].tolist() == [str(k) for k in LEVELS]
    assert choices["model"].tolist() == ["fast"] * 3 + ["thinker"] * 9
    # k = 1: the thinker's budget 8 is right too, but dearer than the fast model.
    assert choices.set_index("difficulty").loc["1", "tier"] == "fast · single · 0"
    assert set(choices["tier"][3:]) == {"thinker · single · 64"}
    assert (choices["share_of_splits"] == 1.0).all()
    table = evaluate(tiers, splits=10)
    line = tiered_verdict(table, choices, "chain")
    router = table[table["policy"] == "difficulty"].iloc[0]
    assert router["accuracy"] == 1.0
    assert line.startswith(
        "route chains of ≤ 3 steps to fast, longer ones to thinker: accuracy 1.000"
    )
    assert f"at {router['mean_cost_usd']:.3g} usd/problem" in line
    # The thinker alone: its most accurate tier (budget 64, 1.0), at its own held-out cost.
    alone = table[table["parameters"] == "thinker · single · 64"].iloc[0]
    assert f"vs 1.000 at {alone['mean_cost_usd']:.3g} for thinker alone" in line
    assert router["mean_cost_usd"] < alone["mean_cost_usd"]


def test_a_router_that_is_no_threshold_gets_no_tiered_line():
    # The fast model is right on k = 1, 2 and 5 only: level 5 goes back to it.
    tiers = build_tiers(tier_records(lambda k, i: k in (1, 2, 5)))
    choices = difficulty_choices(tiers, splits=6)
    assert choices.set_index("difficulty").loc["5", "model"] == "fast"
    assert tiered_verdict(evaluate(tiers, splits=6), choices, "chain") is None


def test_a_level_the_splits_disagree_on_does_not_break_the_split():
    tiers = build_tiers(tier_records(lambda k, i: k <= 3))
    table, choices = evaluate(tiers, splits=10), difficulty_choices(tiers, splits=10)
    # Level 12 as if half the splits had sent it back to the fast model.
    choices.loc[choices["difficulty"] == "12", ["tier", "model", "share_of_splits"]] = [
        "fast · single · 0",
        "fast",
        0.5,
    ]
    line = tiered_verdict(table, choices, "chain")
    assert line.startswith("route chains of ≤ 3 steps to fast, longer ones to thinker")
    assert line.endswith("on held-out halves (undecided: 12)")
    # Decided (most splits), it is no threshold any more.
    choices.loc[choices["difficulty"] == "12", "share_of_splits"] = 0.6
    assert tiered_verdict(table, choices, "chain") is None


def test_the_generic_wording_and_the_cases_without_a_split():
    tiers = build_tiers(tier_records(lambda k, i: k <= 5, task="other"))
    table, choices = evaluate(tiers, splits=4), difficulty_choices(tiers, splits=4)
    line = tiered_verdict(table, choices, "other")
    assert line.startswith("route problems of difficulty ≤ 5 to fast, harder ones to thinker")
    # The fast model right everywhere: one model takes all levels, no split.
    everywhere = build_tiers(tier_records(lambda k, i: True))
    choices = difficulty_choices(everywhere, splits=4)
    assert set(choices["model"]) == {"fast"}
    line = tiered_verdict(evaluate(everywhere, splits=4), choices, "chain")
    assert line.startswith("route every chain to fast (thinker is on no level as accurate")
    assert "vs 1.000 at" in line and "for thinker alone (thinker · single · 64" in line
    # Wrong everywhere: every level to the thinker.
    nowhere = build_tiers(tier_records(lambda k, i: False, task="other"))
    choices = difficulty_choices(nowhere, splits=4)
    line = tiered_verdict(evaluate(nowhere, splits=4), choices, "other")
    assert line.startswith("route every problem to thinker (fast is on no level")
    assert "vs 0.000 at 1 for fast alone" in line
    # No difficulty labels: nothing to choose per level.
    unlabelled = build_tiers(tier_records(lambda k, i: True).assign(difficulty=""))
    assert difficulty_choices(unlabelled, splits=4).empty


def test_a_near_miss_within_slack_still_goes_to_the_cheap_model():
    # Level 4: the fast model misses 1 problem in 50 (0.98, within the 2-point
    # slack of the thinker's 1.0); level 5: 1 in 10 (0.9, outside it).
    def right(k, i):
        return k <= 3 or (k == 4 and i != 0) or (k == 5 and i % 10 != 0)

    tiers = build_tiers(tier_records(right, per_level=100))
    choices = difficulty_choices(tiers, splits=6).set_index("difficulty")
    assert choices.loc["4", "model"] == "fast"
    assert choices.loc["5", "model"] == "thinker"


def test_who_wins_at_matched_cost_per_level():
    records = tier_records(lambda k, i: k <= 3 or (k == 4 and i < 10), per_level=20)
    paired = paired_by(records, ("difficulty",), resamples=200)
    assert paired.columns[0] == "difficulty"
    # No budget in common (0 against 8 and 64): matched by cost only, both ways.
    assert set(paired["matched"]) == {"cost", "cost_b"}
    # At the fast model's cost (1) the thinker cannot run (its cheapest costs
    # 2): it answers nothing there.
    at_fast = paired[(paired["difficulty"] == "2") & (paired["matched"] == "cost")].iloc[0]
    assert (at_fast["cost_a"], at_fast["accuracy_a"], at_fast["accuracy_b"]) == (1.0, 1.0, 0.0)
    # A = fast (name order); at the thinker's budget-64 point on level 7 (cost 9),
    # the fast model is read at its best (0): B - A = 1.
    row = paired[
        (paired["difficulty"] == "7") & (paired["matched"] == "cost_b") & (paired["budget"] == 64)
    ].iloc[0]
    assert (row["cost_b"], row["accuracy_a"], row["accuracy_b"]) == (9.0, 0.0, 1.0)
    assert row["difference"] == 1.0 and row["ci_low"] == 1.0
    verdicts = matched_cost_verdicts(paired, ("difficulty",)).set_index("difficulty")
    assert (verdicts["a"] == "fast · single").all() and (verdicts["b"] == "thinker · single").all()
    for k in LEVELS:
        expected = "a" if k <= 3 else ("both" if k == 4 else "b")
        assert verdicts.loc[str(k), "verdict"] == expected, k
    # Level 1: the fast model is as good at every point the thinker has.
    assert not verdicts.loc["1", "b_wins_at_its_cost"]
    assert verdicts.loc["4", "a_wins_at_its_cost"] and verdicts.loc["4", "b_wins_at_its_cost"]


def test_matched_cost_verdicts_of_nothing():
    assert matched_cost_verdicts(pd.DataFrame()).empty
    assert paired_by(tier_records(lambda k, i: True).iloc[:0], ("difficulty",)).empty


def test_instant_examples_answer_at_once_and_favour_short_chains():
    import random
    from collections import Counter

    from bench.training.reasoner import example

    rng = random.Random(0)
    lengths: Counter = Counter()
    for _ in range(3000):
        prompt, completion = example(rng, 12, instant=1.0)
        assert prompt.endswith("<|assistant|><think></think>") and completion.endswith("</s>")
        question = prompt.removeprefix("<s><|user|>").split("=?")[0]
        assert completion == f"{eval(question)}</s>"  # the answer, nothing before it
        lengths[question.count("+") + question.count("-")] += 1
    # 1/k^2: one-step chains about 65%, twelve steps still present.
    assert 0.6 < lengths[1] / 3000 < 0.7 and lengths[12] > 0
    # A share of 0: the reasoner's chains, never an empty thinking block.
    assert all("</think>" in example(rng, 12)[1] for _ in range(200))
    mixed = [example(rng, 12, instant=0.5)[0].endswith("</think>") for _ in range(2000)]
    assert 0.45 < sum(mixed) / 2000 < 0.55


def test_growing_a_trained_model_keeps_its_function(tmp_path):
    import torch

    from bench.training.reasoner import DEFAULTS, build_model, build_tokenizer, grow

    tokenizer = build_tokenizer()
    small = DEFAULTS | {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128}
    torch.manual_seed(0)
    trained = build_model(tokenizer, small)
    for parameter in trained.parameters():  # not the identity-like init: a "trained" model
        parameter.data.normal_(0, 0.2)
    trained.save_pretrained(tmp_path / "src")
    grown = build_model(tokenizer, small | {"layers": 6})
    grow(grown, tmp_path / "src")
    ids = torch.tensor([tokenizer("<s><|user|>57+3-2=?", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(grown(ids).logits, trained(ids).logits, atol=1e-5)
    assert (
        sum(p.numel() for p in grown.parameters())
        > 2.5 * sum(p.numel() for p in trained.parameters()) - 2 * tokenizer.vocab_size * 64
    )
    for layers, hidden in ((5, 64), (4, 128)):  # not a multiple; another width
        with pytest.raises(ValueError, match="cannot grow into"):
            grow(
                build_model(tokenizer, small | {"layers": layers, "hidden": hidden}),
                tmp_path / "src",
            )


# The truth test on the reference models -------------------------------------


def test_the_shipped_instant_model_has_its_recipe_beside_it():
    import json

    folder = ROOT / "models" / "instant"
    recipe = json.loads((folder / "recipe.json").read_text())
    reasoner = json.loads((ROOT / "models" / "reasoner" / "recipe.json").read_text())
    assert recipe["command"].startswith("python -m bench.training.reasoner --out models/instant")
    assert recipe["settings"]["instant"] == 1.0 and recipe["train_seconds"] <= 25 * 60
    assert recipe["settings"]["grow_from"] == "models/reasoner"
    # Several times the reasoner's parameters, in at most 25 MB.
    assert recipe["parameters"] >= 2.5 * reasoner["parameters"]
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 25 * 2**20
    # The config's parameter count (FLOPs are priced from it) is the model's.
    from bench.sweep.compose import compose

    parameters = compose(["model=instant"]).model.parameters
    assert parameters == pytest.approx(recipe["parameters"], rel=0.01)
    # Its accuracy per chain length, measured at training: falling with length.
    by_length = {int(k): v for k, v in recipe["accuracy_by_steps"].items()}
    assert sorted(by_length) == list(LEVELS)
    assert by_length[1] > by_length[12] + 0.5


PER_LEVEL = 20  # chain problems per length 1..12
SLACK = 0.02  # the difficulty router's accuracy slack (routing.evaluate's default)
COST_TIE = 1.33  # costs this close are a near tie on a loaded machine


@pytest.fixture(scope="module")
def tier_runs(tmp_path_factory):
    """The instant model at budget 0 and the reasoner at five budgets, on the
    same 240 chain problems."""
    from bench.sweep.compose import compose
    from bench.sweep.runner import Sweep

    root = tmp_path_factory.mktemp("tiers")
    common = [
        "suite=chain",
        f"suite.limit={12 * PER_LEVEL}",
        f"results_dir={root}",
        "report=false",
        "engine.show_progress=false",
        "engine.kv_cache_space_gib=1",
    ]
    runs = {}
    for model, budgets in (("instant", "[0]"), ("reasoner", "[0,16,32,64,128]")):
        overrides = [*common, f"model={model}", f"budget.tokens={budgets}", f"run_name={model}"]
        runs[model] = Sweep(compose(overrides)).run()
    return runs


def per_length_table(runs) -> pd.DataFrame:
    """Per tier (model, budget) and chain length: accuracy and mean cost per
    problem in dollars of device time, priced as `bench route` prices them."""
    from bench.analysis.cost import price_records
    from bench.cli.runs import load_pricing
    from bench.report.page import RunInfo, run_costs
    from bench.run.store import read_manifest

    frames, infos = [], []
    for run in runs.values():
        records = pd.read_parquet(run / "records.parquet")
        frames.append(records)
        infos.append(RunInfo(run, read_manifest(run), len(records)))
    pricing = load_pricing(None, infos[0].manifest)
    priced = price_records(pd.concat(frames, ignore_index=True), pricing, run_costs(infos))
    priced["tier"] = priced["model"] + " · single · " + priced["budget"].astype(str)
    priced["length"] = priced["difficulty"].astype(int)
    priced["correct"] = priced["correct"].astype(bool)
    return priced


def predicted_router(priced: pd.DataFrame) -> tuple[dict[int, str], float, float]:
    """The difficulty router worked out on all problems at once: per length
    the cheapest tier within SLACK of the best accuracy; its accuracy and
    mean cost per problem."""
    table = priced.groupby(["length", "tier"]).agg(
        accuracy=("correct", "mean"), cost=("usd", "mean"), problems=("problem_id", "nunique")
    )
    choice, right, spent, count = {}, 0.0, 0.0, 0
    for length, level in table.groupby(level="length"):
        level = level.droplevel("length")
        good = level[level["accuracy"] >= level["accuracy"].max() - SLACK]
        tier = good["cost"].idxmin()
        choice[length] = tier
        n = int(level.loc[tier, "problems"])
        right += level.loc[tier, "accuracy"] * n
        spent += level.loc[tier, "cost"] * n
        count += n
    return choice, right / count, spent / count


@pytest.mark.engine
def test_the_instant_model_is_right_on_short_chains_and_wrong_on_long_ones(tier_runs):
    """On vLLM, the shape its recipe measured with transformers: accuracy
    within sampling error of the recipe's over each third of the lengths
    (40 problems a length there, 20 here; one length's problems can be
    easier than most, as level 10's are in this suite), high on one-step
    chains, low on the longest."""
    import json

    recipe = json.loads((ROOT / "models" / "instant" / "recipe.json").read_text())
    expected = {int(k): v for k, v in recipe["accuracy_by_steps"].items()}
    records = pd.read_parquet(tier_runs["instant"] / "records.parquet")
    assert (records["thinking_tokens"] == 0).all() and records["correct"].notna().all()
    measured = records.groupby(records["difficulty"].astype(int))["correct"].mean()
    assert measured.index.tolist() == list(LEVELS)
    for lengths in ((1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)):
        here = measured[list(lengths)].mean()
        there = np.mean([expected[k] for k in lengths])
        n_here, n_there = PER_LEVEL * len(lengths), 40 * len(lengths)
        # Three standard errors of the difference of two binomial means, plus
        # 0.1: vLLM and transformers round float32 differently.
        spread = max(there * (1 - there), 0.05) * (1 / n_here + 1 / n_there)
        assert abs(here - there) <= 3 * np.sqrt(spread) + 0.1, (lengths, here, there)
    assert measured[1] >= 0.9 and measured[[9, 10, 11, 12]].mean() <= 0.35
    assert expected[1] >= 0.9 and np.mean([expected[k] for k in (9, 10, 11, 12)]) <= 0.35


@pytest.mark.engine
def test_bench_route_and_compare_find_the_predicted_crossover(tier_runs, tmp_path, capsys):
    from bench.cli.main import main

    priced = per_length_table(tier_runs)
    choice, accuracy, cost = predicted_router(priced)
    instant = [length for length in LEVELS if choice[length].startswith("instant ·")]
    # The prediction is a threshold: instant up to the crossover (0: none), the reasoner after.
    crossover = len(instant)
    assert instant == list(range(1, crossover + 1)) and crossover < 12, choice

    runs = [str(tier_runs["instant"]), str(tier_runs["reasoner"])]
    assert main(["route", *runs, "--out", str(tmp_path / "route"), "--brief"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    chosen = pd.read_csv(tmp_path / "route" / "routing_by_difficulty.csv")
    routed = chosen.loc[chosen["model"] == "instant", "difficulty"].astype(int).tolist()
    split = len(routed)
    assert routed == list(range(1, split + 1)) and abs(split - crossover) <= 1, (routed, choice)
    if split:
        assert last.startswith(
            f"route chains of ≤ {split} steps to instant, longer ones to reasoner"
        )
    else:
        assert last.startswith("route every chain to reasoner (instant is on no level")
    table = pd.read_csv(tmp_path / "route" / "routing.csv")
    router = table[table["policy"] == "difficulty"].iloc[0]
    # Held out, the fitted router scores what the prediction says, within its
    # spread over splits (and a point of rounding).
    assert router["ci_low"] - 0.01 <= accuracy <= router["ci_high"] + 0.01
    assert router["cost_ci_low"] * 0.99 <= cost <= router["cost_ci_high"] * 1.01
    # The oracle: per problem the cheapest right tier.
    oracle = table[table["policy"] == "oracle"].iloc[0]
    right = priced[priced["correct"]]
    cheapest = right.groupby("problem_id")["usd"].min()
    fallback = priced.groupby("problem_id")["usd"].min()
    oracle_cost = cheapest.reindex(fallback.index).fillna(fallback).mean()
    oracle_accuracy = len(cheapest) / len(fallback)
    assert oracle["ci_low"] - 0.01 <= oracle_accuracy <= oracle["ci_high"] + 0.01
    assert oracle["cost_ci_low"] * 0.99 <= oracle_cost <= oracle["cost_ci_high"] * 1.01
    # The tiered router is cheaper than the reasoner alone at its best, and as accurate.
    alone = table[table["parameters"].str.startswith("reasoner ·") & (table["policy"] == "single")]
    best = alone.loc[alone["accuracy"].idxmax()]
    assert router["mean_cost_usd"] <= best["mean_cost_usd"] * 1.01
    assert router["accuracy"] >= best["accuracy"] - 0.05

    # bench compare: per length, the reasoner wins at its own cost points (the
    # instant model cannot match it for that money) exactly where the
    # per-length table routes to it. Checked where the table is clear: an
    # accuracy gap within the router's slack (then cost decides), or of a
    # quarter or more (twice the bootstrap's reach on 20 problems); gaps
    # between are a coin toss. So are costs within COST_TIE of each other
    # where cost decides: they are priced by each run's measured device
    # seconds, which a loaded machine moves by that much.
    assert main(["compare", *runs, "--out", str(tmp_path / "compare")]) == 0
    verdicts = pd.read_csv(tmp_path / "compare" / "matched_cost_by_difficulty.csv")
    verdicts = verdicts.set_index(verdicts["difficulty"].astype(int))
    assert set(verdicts["a"]) == {"instant · single"} and set(verdicts["b"]) == {
        "reasoner · single"
    }
    instant_accuracy = priced[priced["model"] == "instant"].groupby("length")["correct"].mean()
    reasoner_best = (
        priced[priced["model"] == "reasoner"]
        .groupby(["length", "budget"])["correct"]
        .mean()
        .groupby("length")
        .max()
    )
    level_cost = priced.groupby(["length", "tier"])["usd"].mean()
    level_accuracy = priced.groupby(["length", "tier"])["correct"].mean()
    checked = 0
    for length in LEVELS:
        gap = reasoner_best[length] - instant_accuracy[length]
        if SLACK < gap < 0.25:
            continue
        if gap <= SLACK:  # as accurate: the cheaper decides, unless it is a near tie
            cost, accuracy = level_cost[length], level_accuracy[length]
            good = accuracy[accuracy >= accuracy.max() - SLACK].index
            reasoner = min((cost[t] for t in good if t.startswith("reasoner ·")), default=None)
            instant = cost["instant · single · 0"]
            if reasoner is not None and 1 / COST_TIE < reasoner / instant < COST_TIE:
                continue
        routed_to_reasoner = choice[length].startswith("reasoner ·")
        assert bool(verdicts.loc[length, "b_wins_at_its_cost"]) == routed_to_reasoner, (length, gap)
        checked += 1
    assert checked >= 8
