"""Budget 0, the non-thinking mode, repeats, published sampling settings and
the experiment packs: config, sweep (fake engine) and report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ROOT
from omegaconf import OmegaConf

from bench.config.identity import comparable_config, config_identity
from bench.config.schema import ConfigError, apply_thinking_mode, record_model_name, to_container
from bench.engines.openai import OpenAIEngine
from bench.strategies import Job, SingleChain
from bench.sweep.compose import validate
from bench.sweep.prompts import chain_settings
from bench.sweep.runner import Sweep
from bench.types import GenerationRequest

EXPERIMENTS = sorted(p.stem for p in (ROOT / "configs/experiment").glob("*.yaml"))


def sweep(make_cfg, *overrides):
    cfg = make_cfg("engine=fake", "suite.limit=5", *overrides)
    run_dir = Sweep(cfg).run()
    return run_dir, pd.read_parquet(run_dir / "records.parquet")


def test_budget_zero_is_the_origin_of_the_curve(make_cfg):
    _, records = sweep(make_cfg, "budget.tokens=[0,16,64]")
    zero = records[records["budget"] == 0]
    assert len(zero) == 5
    assert (zero["thinking_tokens"] == 0).all() and zero["thinking_text"].eq("").all()
    # The model would have thought: budget 0 cut it, and the answer was forced.
    assert zero["hit_budget"].all() and (zero["finish"] == "cut").all()
    assert zero["answer_text"].str.startswith("\nFinal answer:").all()
    # The same chain serves the other budgets.
    assert set(records["budget"]) == {0, 16, 64}


def test_budget_zero_alone_generates_no_thinking(make_cfg, monkeypatch):
    from bench.engines import fake

    seen = []
    original = fake.FakeEngine.stream

    def spy(self, **kw):
        stream = original(self, **kw)
        submit = stream.submit

        def record(tag, request):
            seen.append((tag[0], request))
            return submit(tag, request)

        stream.submit = record
        return stream

    monkeypatch.setattr(fake.FakeEngine, "stream", spy)
    _, records = sweep(make_cfg, "budget.tokens=[0]")
    assert {tag for tag, _ in seen} == {"answer"}  # no thinking request at all
    assert (records["finish"] == "no_thinking").all() and not records["hit_budget"].any()
    assert all(r.temperature == 0.0 for _, r in seen)  # thinking mode: greedy answer


def non_thinking(make_cfg, *more):
    return make_cfg(
        "engine=fake",
        "suite.limit=4",
        "model.thinking=false",
        "budget.tokens=[0]",
        "+model.non_thinking.chat_template_kwargs.enable_thinking=false",
        "model.non_thinking.sampling={temperature: 0.7, top_p: 0.8, top_k: 20}",
        "model.non_thinking.answer_max_tokens=64",
        *more,
    )


def test_non_thinking_mode_replaces_the_thinking_settings(make_cfg):
    cfg = non_thinking(make_cfg)
    validate(cfg)
    apply_thinking_mode(cfg)
    assert cfg.model.chat_template_kwargs == {"enable_thinking": False}
    assert cfg.model.sampling.temperature == 0.7 and cfg.model.answer_max_tokens == 64
    assert cfg.model.forced_answer == ""
    settings = chain_settings(cfg.model, cfg.strategy)
    # The whole response is the answer: sampled at the mode's settings.
    assert (settings.answer_temperature, settings.top_p, settings.top_k) == (0.7, 0.8, 20)
    assert record_model_name(cfg.model) == "smollm2-135m (non-thinking)"
    assert record_model_name(to_container(cfg.model)) == "smollm2-135m (non-thinking)"


def test_non_thinking_sweep_samples_its_answers(make_cfg):
    run_dir, records = sweep(
        make_cfg,
        "model.thinking=false",
        "budget.tokens=[0]",
        "model.non_thinking={answer_prefix: 'Answer:', sampling: {temperature: 0.7}, answer_max_tokens: 64}",
        "strategy=sc",
        "strategy.n=3",
    )
    assert set(records["model"]) == {"smollm2-135m (non-thinking)"}
    assert len(records) == 5 * 3
    assert (records["thinking_tokens"] == 0).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["model"]["answer_max_tokens"] == 64  # what was run


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["model.thinking=false"], "no non-thinking mode"),
        (
            ["model.thinking=false", "model.non_thinking={answer_prefix: 'A:'}"],
            "budget.tokens=\\[0\\]",
        ),
        (
            [
                "model.thinking=false",
                "budget.tokens=[0]",
                "model.non_thinking={answer_prefix: 'A:'}",
                "strategy=wait",
                "strategy.max_extensions=1",
            ],
            "strategy bon or sc or single",
        ),
        (["repeats=0"], "repeats=0"),
        (["repeats=1001"], "repeats=1001"),
        (["+published.math500=0.5"], "published.math500"),
        (["+published.math500={accuracy: 83.9}"], "between 0 and 1"),
        (["budget.tokens=[-8,16]"], ">= 0"),
    ],
)
def test_bad_mode_settings_are_named(make_cfg, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        validate(make_cfg(*overrides))


def test_repeats_run_each_configuration_under_new_seeds(make_cfg):
    run_dir, records = sweep(
        make_cfg, "repeats=3", "strategy=sc", "strategy.n=2", "budget.tokens=[16,64]"
    )
    assert len(records) == 5 * 2 * 2 * 3
    assert sorted(records["repeat"].unique()) == [0, 1, 2]
    assert records["key"].is_unique
    # Sampling under different seeds: the repeats do not all answer alike.
    answers = records.pivot_table(
        index=["problem_id", "budget", "sample"], columns="repeat", values="answer", aggfunc="first"
    )
    assert (answers[0] != answers[1]).any() or (answers[0] != answers[2]).any()
    table = pd.read_csv(run_dir / "scaling.csv")
    assert (table[table["method"] == "sample"]["n"] == 5).all()


def test_repeat_zero_is_the_run_without_repeats(make_cfg, tmp_path):
    _, one = sweep(make_cfg, "run_name=a", "budget.tokens=[16,64]")
    _, two = sweep(make_cfg, "run_name=b", "budget.tokens=[16,64]", "repeats=2")
    first = two[two["repeat"] == 0].sort_values("key")
    assert first["key"].tolist() == one.sort_values("key")["key"].tolist()


def test_new_keys_at_their_neutral_value_keep_a_run_identity(make_cfg):
    config = to_container(make_cfg())
    old = json.loads(json.dumps(config))
    del old["repeats"], old["published"], old["model"]["thinking"]
    del old["model"]["sampling"]["top_k"], old["strategy"]["top_k"], old["model"]["non_thinking"]
    assert config_identity(config) == config_identity(old)
    assert config_identity(config | {"repeats": 2}) != config_identity(config)
    # A thinking run does not use the non-thinking mode's settings.
    with_mode = json.loads(json.dumps(config))
    with_mode["model"]["non_thinking"] = {"answer_max_tokens": 9}
    assert comparable_config(with_mode) == comparable_config(config)
    with_mode["model"]["thinking"] = False
    assert comparable_config(with_mode) != comparable_config(config)


def test_sampling_comes_from_the_model_unless_overridden(make_cfg):
    qwen = make_cfg("model=qwen3-1.7b", "strategy=sc")
    settings = chain_settings(qwen.model, qwen.strategy)
    assert (settings.temperature, settings.top_p, settings.top_k) == (0.6, 0.95, 20)
    assert settings.answer_temperature == 0.0
    mine = make_cfg(
        "model=qwen3-1.7b", "strategy=sc", "strategy.temperature=1.0", "strategy.top_k=5"
    )
    settings = chain_settings(mine.model, mine.strategy)
    assert (settings.temperature, settings.top_k) == (1.0, 5)
    # A greedy model has no sampling of its own to vote over: 0.7.
    greedy = make_cfg("strategy=sc")
    assert chain_settings(greedy.model, greedy.strategy).temperature == 0.7
    assert chain_settings(greedy.model, make_cfg().strategy).temperature == 0.0


@pytest.mark.parametrize("model", ["qwen3-0.6b", "qwen3-1.7b", "qwen3-8b"])
def test_qwen_configs_carry_published_settings(make_cfg, model):
    cfg = make_cfg(f"model={model}")
    assert cfg.model.sampling.top_k == 20
    assert (
        "Considering the limited time by the user, I have to give the solution based on the "
        "thinking directly now.\n</think>" in cfg.model.forced_answer
    )
    mode = cfg.model.non_thinking
    assert mode.chat_template_kwargs.enable_thinking is False
    assert (mode.sampling.temperature, mode.sampling.top_p, mode.sampling.top_k) == (0.7, 0.8, 20)


def test_top_k_reaches_every_engine_request():
    from bench.engines.vllm import VLLMEngine

    request = GenerationRequest(prompt_ids=(1, 2), max_tokens=4, temperature=0.6, top_k=20)

    class Bare:
        supports_request_seed = False

    pytest.importorskip("vllm")
    assert VLLMEngine.sampling_params(Bare(), request).top_k == 20
    engine = OpenAIEngine.__new__(OpenAIEngine)
    engine.served_model, engine.supports_request_seed = "m", False
    engine.cfg = OmegaConf.create({"return_token_ids": False, "extra_body": {}})
    assert engine.body(request)["top_k"] == 20
    assert "top_k" not in engine.body(GenerationRequest(prompt_ids=(1,), max_tokens=4))


def test_single_chain_sends_top_k_for_thinking(make_cfg):
    from bench.engines.fake import FakeEngine

    cfg = make_cfg("model=qwen3-1.7b")
    engine = FakeEngine()
    SingleChain(chain_settings(cfg.model)).run(engine, Job.of([(1, 2, 3)], [8]))
    thinking = [r for call in engine.calls for r in call if r.temperature > 0]
    assert thinking and all(r.top_k == 20 for r in thinking)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_packs_compose_and_validate(make_cfg, experiment):
    cfg = make_cfg(f"+experiment={experiment}")
    validate(cfg)
    assert cfg.engine.kind == "vllm" and cfg.suite.tasks[:2] == ["math500", "aime24"]
    assert set(cfg.published) == set(cfg.suite.tasks)  # a figure for every task it runs
    for entry in cfg.published.values():
        assert 0 < entry.accuracy < 1 and entry.source
    if "non-thinking" in experiment:
        assert not cfg.model.thinking and list(cfg.budget.tokens) == [0]
    else:
        assert cfg.model.thinking and max(cfg.budget.tokens) == 32768
        assert cfg.model.sampling.temperature == 0.6 and cfg.model.sampling.top_p == 0.95


def test_at_least_three_packs_pin_published_figures():
    assert len(EXPERIMENTS) >= 3
    assert {"r1-distill-qwen-1.5b", "qwen3-1.7b-thinking", "qwen3-0.6b-non-thinking"} <= set(
        EXPERIMENTS
    )


def test_pack_on_the_fake_engine_reports_the_published_check(make_cfg, tmp_path):
    # The pack's settings with the fake engine and arithmetic problems in place
    # of the GPU, weights and MATH-500: the check itself runs as it would.
    cfg = make_cfg(
        "+experiment=r1-distill-qwen-1.5b",
        "engine=fake",
        "model=smollm2-135m",
        "suite=arith",
        "suite.limit=10",
        "budget.tokens=[16,64]",
        "strategy.n=2",
        "+published.arith={accuracy: 0.0, source: 'a figure of zero'}",
        "report=true",
    )
    run_dir = Sweep(cfg).run()
    table = pd.read_csv(run_dir / "report" / "published.csv").set_index("task")
    assert table.loc["arith", "inside"] == "yes"  # the fake model is never right
    assert table.loc["math500", "inside"] == "not run"
    page = (run_dir / "report" / "index.html").read_text()
    assert "Published figures" in page and "DeepSeek-R1 README" in page
