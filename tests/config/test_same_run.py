"""The "same run" rules (bench/config/identity.py): identity, one run folder, shards, comparable runs."""

from __future__ import annotations

import copy

import pytest
from helpers import DATA

from bench.config.identity import (
    comparable_config,
    config_identity,
    differs_in_one_run,
    incomparable,
    shard_fingerprint,
)

CONFIG = {
    "model": {"name": "m", "source": "s", "thinking": True, "non_thinking": {"answer_prefix": ""}},
    "engine": {"kind": "fake", "device": "cpu", "show_progress": True, "delay_s": 0.0},
    "suite": {"name": "arith", "limit": 10},
    "budget": {"tokens": [16, 32]},
    "strategy": {"name": "single", "n": 1, "top_k": None},
    "pricing": {"name": "default"},
    "run_name": "a",
    "results_dir": "results",
    "repeats": 1,
    "shard": None,
}


def _with(path: str, value):
    config = copy.deepcopy(CONFIG)
    node = config
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return config


@pytest.mark.parametrize(
    "path, value",
    [
        ("run_name", "b"),
        ("results_dir", "elsewhere"),
        ("engine.show_progress", False),
        ("engine.delay_s", 0.5),
        ("pricing.name", "other"),
        ("model.non_thinking", {"answer_prefix": "x"}),  # unused while thinking
    ],
)
def test_what_does_not_decide_results_leaves_the_identity(path, value):
    assert _with(path, value) != CONFIG  # the case changes something
    assert config_identity(_with(path, value)) == config_identity(CONFIG)


def _without(path: str):
    config = copy.deepcopy(CONFIG)
    node = config
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    del node[last]
    return config


@pytest.mark.parametrize("path", ["repeats", "strategy.top_k"])
def test_a_key_at_its_neutral_value_counts_as_absent(path):
    """Runs stored before a key existed resume: the key at its neutral value
    (repeats 1, top_k None) has the identity of a config without it."""
    assert config_identity(_without(path)) == config_identity(CONFIG)
    # ...and only at that value: the same key set otherwise does change it.
    assert config_identity(_with(path, 3)) != config_identity(CONFIG)


@pytest.mark.parametrize(
    "path, value",
    [
        ("budget.tokens", [16, 64]),
        ("repeats", 2),
        ("strategy.top_k", 20),
        ("model.name", "m2"),
        ("suite.limit", 11),
        ("engine.kind", "vllm"),
    ],
)
def test_what_decides_results_changes_the_identity(path, value):
    assert config_identity(_with(path, value)) != config_identity(CONFIG)


def test_a_non_thinking_mode_counts_once_it_runs():
    off = _with("model.thinking", False)
    assert "non_thinking" in comparable_config(off)["model"]
    assert config_identity(off) != config_identity(CONFIG)


@pytest.mark.parametrize(
    "path, value, named",
    [
        ("model.name", "m2", "model"),
        ("engine.kind", "vllm", "engine.kind"),
        ("engine.device", "cuda", "engine.device"),
        ("strategy.n", 4, "strategy"),
        ("budget.tokens", [16, 32, 64], None),  # budgets may grow within a run
        ("suite.limit", 20, None),  # so may the problems
        ("engine.show_progress", False, None),
    ],
)
def test_one_run_folder_names_the_key_that_may_not_change(path, value, named):
    assert differs_in_one_run(CONFIG, _with(path, value)) == named


def _manifest(config, **facts):
    return {
        "config": config,
        "suite_sha256": "s",
        "store_version": 3,
        "engine": {"version": "1"},
        "versions": {"thinkbench": "0.1", "math-verify": "0.8"},
    } | facts


def test_shards_may_differ_only_in_shard_and_place():
    first = shard_fingerprint(_manifest(_with("shard", "0/2")))
    second = _with("shard", "1/2") | {"run_name": "b", "results_dir": "x"}
    assert shard_fingerprint(_manifest(second)) == first
    # A key added later, at its neutral value, is not a difference either.
    assert shard_fingerprint(_manifest({**second, "repeats": 1})) == first
    assert shard_fingerprint(_manifest(_with("budget.tokens", [16]))) != first
    assert shard_fingerprint(_manifest(CONFIG, suite_sha256="t")) != first
    other = _manifest(CONFIG, versions={"thinkbench": "0.1", "math-verify": "0.9"})
    assert shard_fingerprint(other)["grader version (math-verify)"] == "0.9"


def test_runs_are_comparable_on_one_suite_and_one_problem_set():
    a = {"config": CONFIG, "data_sha256": "x"}
    assert incomparable({"a": a, "b": a}) is None
    other_suite = {"config": _with("suite.name", "gsm8k"), "data_sha256": "x"}
    assert "different suites" in incomparable({"a": a, "b": other_suite})
    other_data = {"config": CONFIG, "data_sha256": "y"}
    assert "different problem sets" in incomparable({"a": a, "b": other_data})


# ---- identity as the config schema's field metadata ------------------------------

# Every config key that is part of a run's identity, as the schema stands. A
# field added to the schema is unclassified until it is marked (schema.setting:
# it never decides results; schema.added(default): stored runs keep their
# identity) or listed here (it decides every run's results from now on).
IDENTITY_FIELDS = [
    "budget.name",
    "budget.tokens",
    "engine.api",
    "engine.block_size",
    "engine.data_parallel_size",
    "engine.device",
    "engine.dtype",
    "engine.enable_prefix_caching",
    "engine.enforce_eager",
    "engine.env",
    "engine.extra_body",
    "engine.gpu_memory_utilization",
    "engine.kind",
    "engine.kv_cache_space_gib",
    "engine.max_model_len",
    "engine.pipeline_parallel_size",
    "engine.request_seeds",
    "engine.return_token_ids",
    "engine.script",
    "engine.seed",
    "engine.served_model",
    "engine.tensor_parallel_size",
    "engine.tokenizer",
    "model.answer_max_tokens",
    "model.answer_stop",
    "model.budget_knob",
    "model.chat_template_kwargs",
    "model.dtype",
    "model.forced_answer",
    "model.max_model_len",
    "model.name",
    "model.non_thinking.answer_max_tokens",
    "model.non_thinking.answer_prefix",
    "model.non_thinking.chat_template_kwargs",
    "model.non_thinking.sampling.temperature",
    "model.non_thinking.sampling.top_k",
    "model.non_thinking.sampling.top_p",
    "model.parameters",
    "model.prompt_template",
    "model.prompts",
    "model.reasoning_effort",
    "model.reasoning_parser",
    "model.reasoning_start",
    "model.revision",
    "model.sampling.temperature",
    "model.sampling.top_k",
    "model.sampling.top_p",
    "model.source",
    "model.system_prompt",
    "model.thinking",
    "model.thinking_end",
    "published",
    "repeats",
    "seed",
    "shard",
    "strategy.logprobs",
    "strategy.max_extensions",
    "strategy.n",
    "strategy.name",
    "strategy.step_aggregate",
    "strategy.subset_draws",
    "strategy.temperature",
    "strategy.top_k",
    "strategy.top_p",
    "strategy.verifier",
    "strategy.wait",
    "suite.after",
    "suite.before",
    "suite.data_dir",
    "suite.limit",
    "suite.name",
    "suite.on_bad_row",
    "suite.path",
    "suite.sample",
    "suite.seed",
    "suite.tasks",
    "suite.version",
]


def _identity_fields() -> set[str]:
    from bench.config.identity import NOT_IN_IDENTITY, config_fields

    return {
        ".".join(key)
        for key, _, nested in config_fields()
        if not nested and not any(key[: len(o)] == o for o in NOT_IN_IDENTITY)
    }


def test_every_config_field_is_classified():
    found = _identity_fields()
    new = sorted(found - set(IDENTITY_FIELDS))
    assert not new, (
        f"config field(s) {new} are unclassified: mark them schema.setting(...) if they do "
        "not change results, schema.added(default) if stored runs must keep their identity, "
        "or list them in IDENTITY_FIELDS if they decide every run's results from now on"
    )
    gone = sorted(set(IDENTITY_FIELDS) - found)
    assert not gone, f"IDENTITY_FIELDS names {gone}, which the schema no longer has"


def test_the_metadata_gives_the_keys_stored_runs_were_made_with():
    """What the hand-kept lists said before identity moved into the schema."""
    from bench.config.identity import NEUTRAL, NOT_IN_IDENTITY

    assert {
        *[(k,) for k in ("run_name", "results_dir", "grading_workers", "wait_for_lock")],
        *[(k,) for k in ("verbose", "summary", "grading_timeout_s", "pricing")],
        *[(k,) for k in ("store_interval_s", "report", "plots")],
        *[("engine", k) for k in ("show_progress", "delay_s", "in_process", "base_url")],
        *[("engine", k) for k in ("base_urls", "api_key_env", "concurrency")],
        *[("engine", k) for k in ("request_timeout_s", "max_retries", "backoff_s")],
        ("engine", "backoff_max_s"),
        ("model", "step_delimiter"),
    } == NOT_IN_IDENTITY
    assert NEUTRAL == {
        ("repeats",): 1,
        ("published",): {},
        ("model", "thinking"): True,
        ("model", "sampling", "top_k"): None,
        ("strategy", "top_k"): None,
        ("engine", "script"): "default",
        ("strategy", "step_aggregate"): "last",
        ("suite", "after"): None,
        ("suite", "before"): None,
        ("suite", "version"): None,
    }


def test_runs_stored_before_keep_their_identity():
    """Configs of stored runs (one from before repeats, top_k, thinking modes
    and step aggregates existed) and the identity the hand-kept lists gave them."""
    import json

    stored = json.loads((DATA / "stored_configs.json").read_text())
    assert len(stored) >= 4
    for name, entry in stored.items():
        assert config_identity(entry["config"]) == entry["identity"], name
