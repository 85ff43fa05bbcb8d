"""Search over reasoning steps (strategy=beam, strategy=dvts) on the fake
engines: what is kept at every step, what is recorded and counted, where a
budget or the iteration cap stops a path, resume, and the one-line errors.

The fake policy (engine.script=chain, bench/engines/fake_chain.py) continues
any chain prefix and slips at a known rate when sampled; the fake PRM scores
from the chain's true step labels, so with no flips it is an oracle and a
search guided by it has a known answer.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from bench.config.schema import ConfigError, load_verifier
from bench.engines.fake import FakeEngine, default_script
from bench.engines.fake_chain import ChainWriter
from bench.engines.reward import FakeRewardEngine
from bench.strategies.base import ChainSettings
from bench.strategies.job import Job
from bench.strategies.search import SearchSettings, StepSearch
from bench.sweep.runner import Sweep
from bench.tasks.chain_steps import step_labels
from bench.tasks.loader import load_problems, load_spec

SEARCH = ["model=slipper", "suite=chain", "engine=fake", "engine.script=chain"]


def _problems(count: int):
    return load_problems(load_spec("chain"))[:count]


class _Counting(FakeRewardEngine):
    """The fake PRM, counting what it read."""

    def __init__(self, flip: float) -> None:
        super().__init__(load_verifier("reference-prm"), flip=flip)
        self.read = 0
        self.batches = 0

    def score(self, inputs):
        self.batches += 1
        scored = super().score(inputs)
        self.read += sum(s.tokens for s in scored)
        return scored


def _search(mode: str, n: int, width: int, budgets, flip=0.0, max_iterations=40, count=24):
    """Run a search directly: (attempts, stats, the verifier, the problems)."""
    engine = FakeEngine(script=ChainWriter(default_script))
    problems = _problems(count)
    tokenizer = engine.tokenizer
    prompts = [
        tuple(tokenizer.encode(tokenizer.render_chat([{"role": "user", "content": p.question}])))
        for p in problems
    ]
    settings = ChainSettings(("</think>",), "</think>", (), 4, temperature=1.0)
    search = SearchSettings(mode, n, width, max_iterations, 64, ",", "last")
    strategy = StepSearch(settings, search)
    verifier = _Counting(flip)
    strategy.attach(verifier)
    seeds = list(range(1000, 1000 + count))
    job = Job.of(prompts, budgets, n, seeds, [p.question for p in problems])
    done, stats = strategy.run(engine, job)
    return done, stats, verifier, problems


def _right(result, problems) -> bool:
    attempt = result.attempt
    gold = problems[result.prompt_index].gold
    return attempt.answer_text.replace("</think>", "").strip() == str(gold)


def test_beam_with_an_oracle_verifier_finds_the_right_chain_where_sampling_slips():
    done, _, _, problems = _search("beam", 4, 2, [128])
    best = {}
    for result in done:  # sample 0: the search's best-scored path
        if result.attempt.sample == 0:
            best[result.prompt_index] = _right(result, problems)
    searched = sum(best.values()) / len(best)
    # One sampled chain of the same writer, for comparison: it slips at 0.15 a step.
    engine = FakeEngine(script=ChainWriter(default_script))
    sampled = [
        engine._continue(f"<|user|>\n{p.question}\n<|end|>\n<|assistant|>\n", variant=1 + k)
        for k, p in enumerate(problems)
    ]
    sampled_right = sum(
        text.endswith(f"</think>{p.gold}") for text, p in zip(sampled, problems, strict=True)
    ) / len(problems)
    assert searched >= 0.9 > sampled_right + 0.2, (searched, sampled_right)


def test_a_misleading_verifier_leads_the_search_astray():
    """Near-inverted scores (flip 0.9): the search keeps the slipped paths."""
    oracle, _, _, problems = _search("beam", 4, 2, [128], flip=0.0)
    inverted, _, _, _ = _search("beam", 4, 2, [128], flip=0.9)

    def accuracy(done):
        return sum(_right(r, problems) for r in done if r.attempt.sample == 0) / len(problems)

    assert accuracy(inverted) < accuracy(oracle) - 0.3


def test_beam_records_n_paths_and_dvts_one_per_subtree():
    beam, *_ = _search("beam", 8, 4, [16, 128], count=6)
    dvts, *_ = _search("dvts", 8, 4, [16, 128], count=6)
    for done, per in ((beam, 8), (dvts, 2)):
        counts = pd.Series([(r.prompt_index, r.attempt.budget) for r in done]).value_counts()
        assert set(counts) == {per}
        assert len(counts) == 6 * 2


def test_every_token_of_the_search_is_counted_once():
    done, stats, verifier, _ = _search("beam", 4, 2, [24, 128], count=12)
    generated = sum(r.attempt.search_tokens for r in done)
    assert generated == stats.thinking_generated + stats.answer_generated
    # Pruned branches are in it: more than the recorded paths' own tokens...
    own = sum(r.attempt.thinking_tokens + len(r.attempt.answer_ids) for r in done)
    assert generated > own / 4  # (the recorded paths share prefixes)
    # ...and every token the verifier read while searching, once.
    assert sum(r.attempt.search_verifier_tokens for r in done) == verifier.read
    assert all(r.attempt.search_verifier_seconds >= 0 for r in done)


def test_one_verifier_batch_per_step_for_every_problem_and_budget():
    done, stats, verifier, _ = _search("beam", 4, 2, [24, 64, 128], count=12)
    # Longest chain: 12 steps plus its start and the end: at most ~14 steps.
    assert verifier.batches <= 16
    assert "engine batches" in " ".join(stats.calls)


def test_a_budget_cuts_a_path_exactly_and_forces_its_answer():
    done, *_ = _search("beam", 4, 2, [16], count=24)
    cut = [r.attempt for r in done if r.attempt.finish == "cut"]
    assert cut, "chains of 3 or more steps need more than 16 tokens"
    for attempt in cut:
        assert attempt.hit_budget and attempt.thinking_tokens == 16
        assert attempt.answer_text.startswith("</think>")
    for r in done:
        assert r.attempt.thinking_tokens <= 16


def test_the_iteration_cap_stops_what_still_thinks():
    done, *_ = _search("dvts", 4, 2, [128], max_iterations=2, count=24)
    capped = [r.attempt for r in done if r.attempt.finish == "capped"]
    assert capped and all(not a.hit_budget for a in capped)
    # Two steps written at most: the start value and one step.
    assert all(len([s for s in a.thinking_text.split(",") if s]) <= 2 for a in capped)
    finished = [r.attempt for r in done if r.attempt.finish == "natural"]
    assert all(len(a.thinking_text.split(",")) <= 2 for a in finished)


@pytest.mark.parametrize("strategy", ["beam", "dvts"])
def test_a_search_sweep_stores_scores_and_prices_every_token(make_cfg, strategy):
    cfg = make_cfg(
        *SEARCH, f"strategy={strategy}", "strategy.n=4", "strategy.beam_width=2",
        "budget.tokens=[16,128]", "suite.limit=12", f"run_name={strategy}",
    )  # fmt: skip
    run_dir = Sweep(cfg).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    per = records.groupby(["problem_id", "budget"]).size()
    assert set(per) == ({4} if strategy == "beam" else {2})
    assert (records["search_tokens"] > 0).all() and (records["search_verifier_tokens"] > 0).all()
    # The verification phase scored every final path with its answer.
    assert records["verifier_score"].notna().all() and (records["verifier_tokens"] > 0).all()
    # Chains from the fake PRM's pick are labelled right where the truth says so.
    for row in records.itertuples():
        labels = step_labels(
            _question(row.problem_id), row.thinking_text, row.answer_text.replace("</think>", "")
        )
        assert labels is not None
        assert bool(row.correct) == (labels.answer_label or _cancelled(labels, row))
    scaling = pd.read_csv(run_dir / "scaling.csv")
    assert {"maj", "bon", "wbon"} <= set(scaling["method"])
    from bench.analysis.cost import policy_generated, price_records

    priced = price_records(records, {"device_hours": {"cpu": {"usd_per_hour": 1.0}}}, {})
    assert (policy_generated(records) == records["search_tokens"]).all()
    assert (priced["usd"] > 0).all()


def _question(problem_id: str) -> str:
    return next(p.question for p in load_problems(load_spec("chain")) if p.problem_id == problem_id)


def _cancelled(labels, row) -> bool:
    """Two slips that cancel: a right answer from a chain with a bad step."""
    return not all(labels.labels) and bool(row.correct)


def test_a_search_resumes_to_the_uninterrupted_records(make_cfg, monkeypatch):
    common = [*SEARCH, "strategy=beam", "strategy.n=4", "strategy.beam_width=2",
              "budget.tokens=[24,128]", "suite.limit=12"]  # fmt: skip
    whole = Sweep(make_cfg(*common, "run_name=whole")).run()
    # Stop the second run after its first stored problems, as a kill would.
    import bench.strategies.search as search

    original = search._SearchRun._attempts
    seen = {"n": 0}

    def stop_after_three(self, i):
        seen["n"] += 1
        if seen["n"] > 3:
            raise KeyboardInterrupt
        return original(self, i)

    monkeypatch.setattr(search._SearchRun, "_attempts", stop_after_three)
    cfg = make_cfg(*common, "run_name=part", "store_interval_s=0")
    with pytest.raises(KeyboardInterrupt):
        Sweep(cfg).run()
    monkeypatch.setattr(search._SearchRun, "_attempts", original)
    resumed = Sweep(cfg).run()
    columns = ["key", "problem_id", "budget", "sample", "thinking_text", "answer_text",
               "search_tokens", "search_verifier_tokens", "correct"]  # fmt: skip
    a = pd.read_parquet(whole / "records.parquet")[columns].sort_values("key")
    b = pd.read_parquet(resumed / "records.parquet")[columns].sort_values("key")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.slow
def test_a_killed_beam_sweep_resumes_to_the_same_records(tmp_path):
    args = [sys.executable, "-m", "bench.cli", "sweep", *SEARCH, "strategy=beam",
            "strategy.n=4", "strategy.beam_width=2", "budget.tokens=[24,128]",
            "suite.limit=24", f"results_dir={tmp_path}", "report=false", "plots=false"]  # fmt: skip
    whole = subprocess.run([*args, "run_name=whole"], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    slow = [*args, "run_name=X", "engine.delay_s=0.01", "store_interval_s=0.1"]
    victim = subprocess.Popen(slow, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in victim.stdout:
        if line.startswith("run:"):
            break
    time.sleep(2.0)
    landed = victim.poll() is None
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    resumed = subprocess.run(slow, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    columns = ["key", "sample", "thinking_text", "answer_text", "search_tokens", "correct"]
    a = pd.read_parquet(tmp_path / "whole" / "records.parquet")[columns].sort_values("key")
    b = pd.read_parquet(tmp_path / "X" / "records.parquet")[columns].sort_values("key")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert landed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["strategy.beam_width=3"], "beam_width=3 does not divide strategy.n=8"),
        (["strategy.verifier=reference-orm"], "is an ORM"),
        (["strategy.verifier=null"], "set strategy.verifier=NAME"),
        (["strategy.verifier=no-such-prm"], "no-such-prm"),
        (["budget.tokens=[0,64]"], "drop 0 from budget.tokens"),
        (["strategy.max_iterations=0"], "strategy.max_iterations=0"),
        (["strategy.step_max_tokens=0"], "strategy.step_max_tokens=0"),
        (["strategy.beam_width=0"], "strategy.beam_width=0"),
        (["strategy.n=1", "strategy.beam_width=1"], "set strategy.n to 2 or more"),
        (["model.step_delimiter=null"], "has no step delimiter"),
        (["engine=openai"], "give the verifier a server"),
    ],
)
@pytest.mark.parametrize("strategy", ["beam", "dvts"])
def test_bad_search_settings_are_one_line(make_cfg, strategy, overrides, message):
    from bench.sweep.compose import validate

    # Another engine takes none of the fake engine's keys.
    other_engine = any(o.startswith("engine=") for o in overrides)
    base = [o for o in SEARCH if not (other_engine and o.startswith("engine"))]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as caught:
        validate(make_cfg(*base, f"strategy={strategy}", *overrides))
    assert "\n" not in str(caught.value)


def test_widths_that_divide_n_are_accepted(make_cfg):
    from bench.sweep.compose import validate

    for n, width in ((8, 1), (8, 2), (8, 8), (6, 3), (4, 4)):
        validate(
            make_cfg(*SEARCH, "strategy=beam", f"strategy.n={n}", f"strategy.beam_width={width}")
        )


def test_a_partial_chain_is_read_without_an_answer():
    from bench.engines.reward_inputs import reward_input
    from bench.training.reward_models import build_tokenizer

    verifier = load_verifier("reference-prm")
    made = reward_input(verifier, build_tokenizer(), "7+3-2=?", "7,+3=10,", None, ",")
    assert made.text == "<s><|user|>7+3-2=?<|assistant|><think>7<extra_0>+3=10<extra_0>"
    assert len(made.positions) == 2
    with pytest.raises(ValueError, match="scores whole attempts"):
        reward_input(load_verifier("reference-orm"), build_tokenizer(), "7+3=?", "7,", None, ",")


def test_sort_puts_missing_scores_last():
    from bench.strategies.search import _by_score, _Path

    paths = [_Path((), score=math.nan), _Path((), score=0.2), _Path((), score=0.9)]
    assert [p.score for p in sorted(paths, key=_by_score)][:2] == [0.9, 0.2]


def test_every_strategy_sits_on_one_token_axis(make_cfg):
    """single (per budget), sc (maj@k), beam (its pick at k = all it kept):
    each point's x is what one problem cost, policy and verifier."""
    from bench.analysis.strategies import strategies_table

    runs = {
        "single": ["strategy=single"],
        "sc": ["strategy=sc", "strategy.n=4"],
        "beam": ["strategy=beam", "strategy.n=4", "strategy.beam_width=2"],
    }
    frames = []
    for name, overrides in runs.items():
        cfg = make_cfg(
            *SEARCH, *overrides, "budget.tokens=[16,128]", "suite.limit=12", f"run_name={name}"
        )
        frames.append(pd.read_parquet(Sweep(cfg).run() / "records.parquet"))
    records = pd.concat(frames, ignore_index=True)
    table = strategies_table(records)
    assert set(table["strategy"]) == set(runs)
    beam = table[table["strategy"] == "beam"]
    assert set(beam["method"]) == {"bon", "wbon"} and set(beam["k"]) == {4}
    for budget, row in beam[beam["method"] == "bon"].set_index("budget").iterrows():
        mine = records[(records["strategy"] == "beam") & (records["budget"] == budget)]
        spent = mine["prompt_tokens"] + mine["search_tokens"] + mine["search_verifier_tokens"]
        spent = spent + mine["verifier_tokens"]
        per_problem = spent.groupby(mine["problem_id"]).sum().mean()
        assert row["total_tokens_per_problem"] == pytest.approx(per_problem)
        best = mine.loc[mine.groupby("problem_id")["verifier_score"].idxmax(), "correct"]
        assert row["accuracy"] == pytest.approx(best.astype(float).mean())
    sc = table[table["strategy"] == "sc"].set_index(["budget", "k"])
    for budget in (16, 128):
        mine = records[(records["strategy"] == "sc") & (records["budget"] == budget)]
        attempt = (mine["prompt_tokens"] + mine["thinking_tokens"] + mine["answer_tokens"]).mean()
        assert sc.loc[(budget, 4), "total_tokens_per_problem"] == pytest.approx(4 * attempt)
    single = table[table["strategy"] == "single"]
    assert set(single["method"]) == {"pass"} and sorted(single["budget"]) == [16, 128]


def test_compute_optimal_chooses_a_strategy_per_difficulty():
    """A known answer: one strategy is right on the easy levels, another on
    the hard ones, at the same cost; the per-difficulty choice gets every
    held-out problem right where the best single strategy gets half."""
    from bench.analysis.compute_optimal import compute_optimal_strategies

    rows = []
    for strategy, right_on in (("single", {"1", "2"}), ("wait", {"3", "4"})):
        for level in ("1", "2", "3", "4"):
            for p in range(10):
                rows.append(
                    dict(
                        model="m", task="t", strategy=strategy, budget=64, sample=0,
                        problem_id=f"{level}-{p}", difficulty=level,
                        correct=level in right_on, prompt_tokens=10, thinking_tokens=50,
                        answer_tokens=5,
                    )
                )  # fmt: skip
    table = compute_optimal_strategies(pd.DataFrame(rows), splits=10)
    assert len(table) == 1  # one setting cost: one spend level
    row = table.iloc[0]
    assert row["policy_accuracy"] == pytest.approx(1.0)
    assert row["single_accuracy"] == pytest.approx(0.5, abs=0.15)
    assert row["gain"] == pytest.approx(1.0 - row["single_accuracy"])
    assert row["per_difficulty"] == (
        "1: single b=64,k=1; 2: single b=64,k=1; 3: wait b=64,k=1; 4: wait b=64,k=1"
    )


def test_compute_optimal_among_strategies_reads_every_kind_of_run(make_cfg):
    """single, sc and beam runs on the same problems: every setting is a
    (strategy, budget, k), a search's at its n and whole cost."""
    from bench.analysis.compute_optimal import compute_optimal_strategies, settings_matrix

    frames = []
    for name, overrides in {
        "single": ["strategy=single"],
        "sc": ["strategy=sc", "strategy.n=4"],
        "beam": ["strategy=beam", "strategy.n=4", "strategy.beam_width=2"],
    }.items():
        cfg = make_cfg(
            *SEARCH, *overrides, "budget.tokens=[24,128]", "suite.limit=24", f"run_name={name}"
        )
        frames.append(pd.read_parquet(Sweep(cfg).run() / "records.parquet"))
    records = pd.concat(frames, ignore_index=True)
    table = compute_optimal_strategies(records, splits=10)
    assert not table.empty and (table["test_problems"] == 12).all()
    picked = {
        n.split(": ")[-1].split(" ")[0] for n in "; ".join(table["per_difficulty"]).split("; ")
    }
    assert picked <= {"single", "sc", "beam"}
    settings, problems, accuracy, cost, _ = settings_matrix(frames[2])
    assert settings == [(24, 4), (128, 4)]  # a search: its n, per budget
    beam = frames[2]
    one = beam[(beam["problem_id"] == problems[0]) & (beam["budget"] == 128)]
    spent = one["search_tokens"] + one["search_verifier_tokens"] + one["verifier_tokens"]
    assert cost[0, 1] == pytest.approx(spent.sum())
    assert accuracy[0, 1] == float(one.loc[one["verifier_score"].idxmax(), "correct"])
    # One strategy only: nothing to choose among.
    assert compute_optimal_strategies(frames[0]).empty


def test_the_comparison_report_has_the_strategy_tables(make_cfg, tmp_path):
    from bench.cli.main import main

    runs = []
    for name, overrides in {
        "single": ["strategy=single"],
        "beam": ["strategy=beam", "strategy.n=4", "strategy.beam_width=2"],
    }.items():
        cfg = make_cfg(
            *SEARCH, *overrides, "budget.tokens=[24,128]", "suite.limit=12", f"run_name={name}"
        )
        runs.append(str(Sweep(cfg).run()))
    out = tmp_path / "compared"
    assert main(["compare", *runs, "--out", str(out)]) == 0
    table = pd.read_csv(out / "strategies.csv")
    assert set(table["strategy"]) == {"single", "beam"}
    assert (out / "compute_optimal_strategies.csv").exists()
    assert (out / "strategies.png").stat().st_size > 0
