"""Every strategy through a whole sweep on the fake engine: records, vote
classes, verifier scores and the rows scaling.csv gets."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.config.schema import ConfigError
from bench.sweep.compose import validate
from bench.sweep.runner import Sweep


def run(make_cfg, *overrides):
    cfg = make_cfg("engine=fake", "suite.limit=6", "budget.tokens=[16,64,256]", *overrides)
    validate(cfg)
    run_dir = Sweep(cfg).run()
    return pd.read_parquet(run_dir / "records.parquet"), pd.read_csv(run_dir / "scaling.csv")


def test_sc_votes_by_class_and_reports_maj_at_k(make_cfg):
    records, scaling = run(make_cfg, "strategy=sc", "strategy.n=4")
    assert len(records) == 6 * 3 * 4
    # Samples of one problem at one budget share classes where their answers agree.
    for _, group in records.groupby(["problem_id", "budget"]):
        by_value = group.groupby("answer")["vote_class"].nunique()
        assert (by_value == 1).all()
        assert group["vote_class"].nunique() == group["answer"].nunique()
    maj = scaling[scaling["method"] == "maj"]
    assert sorted(maj["k"].unique()) == [1, 2, 4]
    assert len(maj) == 3 * 3
    sample = scaling[scaling["method"] == "sample"].set_index("budget")["accuracy"]
    maj1 = maj[maj["k"] == 1].set_index("budget")["accuracy"]
    pd.testing.assert_series_equal(sample, maj1, check_names=False)  # maj@1 = mean accuracy
    assert (maj["generated_tokens_per_problem"] > 0).all()
    # pass@k never falls with k, and pass@1 is the mean accuracy too.
    passes = scaling[scaling["method"] == "pass"].sort_values(["budget", "k"])
    for _, curve in passes.groupby("budget"):
        assert curve["accuracy"].is_monotonic_increasing
    pass1 = passes[passes["k"] == 1].set_index("budget")["accuracy"]
    pd.testing.assert_series_equal(sample, pass1, check_names=False)


def test_bon_scores_every_attempt_and_reports_bon_and_wbon(make_cfg):
    records, scaling = run(make_cfg, "strategy=bon", "strategy.n=4")
    assert records["verifier_score"].notna().all()
    assert (records["verifier_tokens"] == 0).all()  # self-certainty reads no extra tokens
    assert set(scaling["method"]) == {"sample", "pass", "maj", "bon", "wbon"}


def test_wait_records_extensions(make_cfg):
    records, _ = run(make_cfg, "strategy=wait")
    single, _ = run(make_cfg, "strategy=single", "run_name=plain")
    assert records["extensions"].max() >= 1
    assert records["thinking_tokens"].sum() > single["thinking_tokens"].sum()


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["strategy=sc", "strategy.temperature=0"], "needs sampling"),
        (["strategy=sc", "strategy.n=1"], "strategy.n to 2 or more"),
        (["strategy=bon", "strategy.verifier=oracle"], "strategy.verifier='oracle'"),
        (["strategy=wait", "strategy.max_extensions=0"], "max_extensions"),
    ],
)
def test_bad_strategy_settings_are_named(make_cfg, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        validate(make_cfg("engine=fake", *overrides))


def test_native_budgets_are_enforced_by_the_engine(make_cfg):
    records, scaling = run(make_cfg, "strategy=native")
    assert (records["thinking_tokens"] <= records["budget"]).all()
    cut = records[records["finish"] == "cut"]
    assert len(cut) and (cut["thinking_tokens"] == cut["budget"]).all()
    assert records["answer_text"].str.startswith("\nFinal answer:").all()
    assert len(scaling) == 3


def test_native_refuses_an_engine_without_budgets(make_cfg):
    from bench.strategies.native import check_support

    cfg = make_cfg("engine=vllm_cpu", "strategy=native", "model.reasoning_start=null")
    with pytest.raises(ConfigError, match="reasoning_parser"):
        check_support(cfg.engine, cfg.model)
