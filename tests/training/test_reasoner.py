"""The reference reasoner checks the harness against a known answer.

A chain problem of k steps needs a known number of thinking tokens; the
reasoner is right when its chain fits the budget and guesses otherwise. From
an unbudgeted run we know each problem's needed length and whether the
finished chain is right; from the cut attempts, the guessing rate. The
harness's scaling.csv must then agree with the prediction at every budget,
within its own confidence intervals: this checks budget cutting, forced
answers, grading and aggregation together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT

from bench.tasks.chain import Chain, generate, random_chain

# 0: no thinking at all; 128 fits every chain of the suite (<= ~75): the unbudgeted run.
BUDGETS = [0, 8, 16, 32, 64, 128]


def test_chain_problems_are_deterministic_and_their_lengths_known():
    first, again = generate(3, seed=5), generate(3, seed=5)
    assert [p.question for p in first] == [p.question for p in again]
    assert {p.difficulty for p in first} == {str(k) for k in range(1, 13)}
    chain = Chain(7, (3, -2, 5))
    assert chain.question == "7+3-2+5=?" and chain.answer == 13
    assert chain.thinking() == "7,+3=10,-2=8,+5=13" and chain.needed_tokens() == 18
    assert chain.thinking([True, False, False]) == "7,+3-2=8,+5=13"
    import random

    rng = random.Random(0)
    for _ in range(200):
        c = random_chain(rng, 16)
        assert all(0 <= v <= 99 for v in c.values) and 0 not in c.steps


@pytest.mark.slow
def test_a_short_training_run_learns():
    """The shipped recipe's script, 600 steps of a 2-layer model on one-step
    chains (about 15 s): the loss falls and a few problems come out right."""
    from bench.training.reasoner import DEFAULTS, accuracy, train

    settings = DEFAULTS | {"steps": 600, "batch": 32, "layers": 2, "max_chain": 1}
    model, tokenizer, losses = train(settings, log_every=100)
    assert losses[-1] < losses[0] / 10
    by_steps = accuracy(model, tokenizer, count=100, max_chain=1)
    # A guess is right 1 time in ~100. Measured: 7 of 100 on an AMD EPYC with
    # AVX2 only (float32), 7 of 20 on one with AVX-512: the float arithmetic
    # differs by machine, so the bar is "clearly above chance", not a figure.
    assert by_steps[1] >= 0.03


def test_the_shipped_reasoner_has_its_recipe_beside_it():
    import json

    folder = ROOT / "models" / "reasoner"
    recipe = json.loads((folder / "recipe.json").read_text())
    assert recipe["command"].startswith("python -m bench.training.reasoner")
    assert recipe["train_seconds"] <= 20 * 60
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 25 * 2**20
    assert (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    from bench.sweep.runner import Sweep

    return Sweep(_cfg(tmp_path_factory.mktemp("single"), "strategy=single")).run()


def _cfg(results: Path, *overrides: str):
    from bench.sweep.compose import compose

    return compose(
        [
            "model=reasoner",
            "suite=chain",
            f"budget.tokens=[{','.join(map(str, BUDGETS))}]",
            f"results_dir={results}",
            "report=false",
            "engine.show_progress=false",
            "engine.kv_cache_space_gib=1",
            *overrides,
        ]
    )


@pytest.mark.engine
def test_the_harness_recovers_the_known_scaling_curve(single_run):
    records = pd.read_parquet(single_run / "records.parquet")
    full = records[records["budget"] == max(BUDGETS)].set_index("problem_id")
    # The unbudgeted run: every chain finished, and (nearly) every one is right.
    assert not full["hit_budget"].any()
    assert full["correct"].mean() >= 0.95
    needed = full["thinking_tokens"]
    cut = records[records["hit_budget"]]
    chance = cut["correct"].mean()  # the guessing rate of cut chains
    scaling = pd.read_csv(single_run / "scaling.csv")
    scaling = scaling[scaling["method"] == "sample"].set_index("budget")
    rising = 0
    for budget in BUDGETS[:-1]:
        fits = needed <= budget
        predicted = (full["correct"] & fits).mean() + chance * (~fits).mean()
        row = scaling.loc[budget]
        slack = 0.02  # the interval is a bootstrap estimate; allow its rounding
        assert row["ci_low"] - slack <= predicted <= row["ci_high"] + slack, (budget, predicted)
        rising += row["accuracy"] > scaling.loc[budget // 2]["accuracy"] if budget > 8 else 0
    assert rising >= 3  # accuracy rises over at least four budgets
    # Cut at a quarter of the chain it needs (or less), it can only guess.
    attempts = records.join(needed.rename("needed"), on="problem_id")
    quarter = attempts[attempts["budget"] * 4 <= attempts["needed"]]
    assert len(quarter) >= 20 and quarter["correct"].mean() <= 0.3


@pytest.mark.engine
def test_budget_zero_and_the_non_thinking_mode_agree_token_for_token(single_run, tmp_path):
    """The reasoner's thinking switch closes the block in its template; budget 0
    closes it with the forced answer: the same tokens, so the same answers."""
    from bench.analysis.modes import non_thinking_agreement
    from bench.sweep.runner import Sweep

    run_dir = Sweep(_cfg(tmp_path, "model.thinking=false", "budget.tokens=[0]")).run()
    off = pd.read_parquet(run_dir / "records.parquet").set_index("problem_id")
    records = pd.read_parquet(single_run / "records.parquet")
    zero = records[records["budget"] == 0].set_index("problem_id")
    assert len(off) == len(zero) == 60
    assert (off["model"] == "reasoner (non-thinking)").all()
    # Budget 0's answer text starts with the forced "</think>"; the answers are the same.
    assert ("</think>" + off["answer_text"] == zero.loc[off.index, "answer_text"]).all()
    assert (off["answer"] == zero.loc[off.index, "answer"]).all()
    # Its prompt holds the "</think>" that budget 0 forces.
    assert (off["prompt_tokens"] == zero.loc[off.index, "prompt_tokens"] + 1).all()
    table = non_thinking_agreement(pd.concat([records, off.reset_index()]))
    assert table.iloc[0]["agree"] == "yes" and table.iloc[0]["disagreements"] == 0


@pytest.mark.engine
def test_majority_voting_gains_where_sampled_chains_disagree(tmp_path):
    from bench.sweep.runner import Sweep

    cfg = _cfg(tmp_path, "strategy=sc", "strategy.n=8", "strategy.temperature=1.0")
    run_dir = Sweep(cfg).run()
    scaling = pd.read_csv(run_dir / "scaling.csv")
    votes = scaling[scaling["method"] == "maj"]
    gains = []
    for _budget, rows in votes.groupby("budget"):
        by_k = rows.set_index("k")["accuracy"]
        gains.append(by_k.get(8, 0) - by_k.get(1, 0))
    assert max(gains) >= 0.1  # at some budget, voting over 8 beats one sample clearly
