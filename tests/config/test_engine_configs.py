"""One config per kind of engine (bench/config/engines.py): each engine option
composes onto its kind's schema, a key of another kind is refused naming it,
and configs and runs made while one config held every engine's keys keep
their identity, resume and reproduce."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from helpers import DATA, bench
from omegaconf import OmegaConf

from bench.config.engines import (
    ENGINES,
    EngineConfig,
    FakeEngineConfig,
    OpenAIEngineConfig,
    VLLMEngineConfig,
    engine_fields,
    foreign_keys,
    schema_of,
)
from bench.config.identity import (
    NOT_IN_IDENTITY,
    config_identity,
    differs_in_one_run,
    shard_fingerprint,
)
from bench.config.schema import CONFIG_DIR, ConfigError
from bench.sweep.compose import compose, structured, validate

# Configs composed with the code before the split (one EngineConfig of 31
# fields for every engine), with their identities then.
BEFORE = json.loads((DATA / "engine_configs_before_split.json").read_text())
# The keys that one config held for every engine.
KEYS_BEFORE = {
    *("kind", "device", "dtype", "max_model_len", "tensor_parallel_size"),
    *("gpu_memory_utilization", "enable_prefix_caching", "enforce_eager", "seed"),
    *("kv_cache_space_gib", "block_size", "env", "in_process", "delay_s", "script"),
    *("pipeline_parallel_size", "data_parallel_size", "base_url", "base_urls"),
    *("api_key_env", "served_model", "concurrency", "request_timeout_s", "max_retries"),
    *("backoff_s", "backoff_max_s", "request_seeds", "return_token_ids", "extra_body"),
    *("tokenizer", "api", "show_progress"),
}


@pytest.fixture
def before_env(monkeypatch):
    """The environment the fixture was composed in: no server or data folder set."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("THINKBENCH_DATA", raising=False)


def _options() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "engine").glob("*.yaml"))


@pytest.mark.parametrize("option", _options())
def test_each_engine_option_composes_onto_its_kinds_schema(option):
    cfg = compose([f"engine={option}", *(["strategy=api"] if option == "openai_chat" else [])])
    kind = ENGINES[cfg.engine.kind]
    assert schema_of(cfg.engine) is kind.schema
    assert set(cfg.engine) == {f.name for f in dataclasses.fields(kind.schema)}
    validate(cfg)


def test_the_kinds_split_the_keys_one_config_held():
    own = [{f.name for f in dataclasses.fields(k.schema)} for k in ENGINES.values()]
    shared = {f.name for f in dataclasses.fields(EngineConfig)}
    assert set(engine_fields()) == KEYS_BEFORE == set().union(*own)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert own[a] & own[b] == shared  # no kind's own key is another's
    assert all(issubclass(k.schema, EngineConfig) for k in ENGINES.values())
    assert len(shared) < 6 and all(len(keys) < 20 for keys in own)


def _kind_of(option: str) -> str:
    return compose([f"engine={option}"]).engine.kind


@pytest.mark.parametrize(
    "option, key, value",
    [
        ("vllm_cpu", "base_url", "http://127.0.0.1:9/v1"),
        ("vllm_cpu", "api", "chat"),
        ("vllm", "delay_s", "0.5"),
        ("vllm", "served_model", "x"),
        ("openai", "tensor_parallel_size", "2"),
        ("openai", "kv_cache_space_gib", "2"),
        ("openai", "script", "chain"),
        ("openai_chat", "in_process", "true"),
        ("fake", "base_url", "http://127.0.0.1:9/v1"),
        ("fake", "enforce_eager", "true"),
        ("fake", "request_seeds", "false"),
    ],
)
def test_a_key_of_another_kind_is_refused_naming_it(option, key, value):
    with pytest.raises(Exception) as caught:
        compose([f"engine={option}", f"engine.{key}={value}"])
    said = f"{caught.value}\n{caught.value.__cause__}"
    assert f"'{key}' not in '{ENGINES[_kind_of(option)].schema.__name__}'" in said


@pytest.mark.parametrize(
    "option, key, value, read",
    [
        ("vllm_cpu", "block_size", "16", 16),
        ("vllm", "data_parallel_size", "2", 2),
        ("openai", "served_model", "q", "q"),
        ("openai_chat", "max_retries", "0", 0),
        ("fake", "script", "chain", "chain"),
        ("fake", "seed", "3", 3),  # a key every engine has
        ("openai", "device", "cpu", "cpu"),
    ],
)
def test_a_kinds_own_key_is_taken(option, key, value, read):
    assert compose([f"engine={option}", f"engine.{key}={value}"]).engine[key] == read


def test_the_command_line_says_whose_key_it_is(tmp_path):
    result = bench(
        "sweep", "engine=vllm_cpu", "engine.base_url=http://127.0.0.1:9/v1", cwd=tmp_path
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "engine.base_url is a key of openai engines, not of vllm ones" in line
    assert not (tmp_path / "results").exists()
    typo = bench("sweep", "engine=fake", "engine.scrpt=chain", cwd=tmp_path)
    assert typo.returncode == 2 and "'scrpt' not in 'FakeEngineConfig'" in typo.stderr


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["engine=fake", "engine.kind=openai"], "on the keys of a fake engine; choose"),
        (["engine=vllm_cpu", "engine.kind=fake"], "on the keys of a vllm engine; choose"),
        (["engine=fake", "engine.kind=tpu"], "engine.kind='tpu' is not known"),
        (["engine=openai", "engine.api=grpc"], "engine.api='grpc' is not known"),
        (["engine=fake", "engine.script=poems"], "engine.script='poems' is not known"),
        (["engine=vllm", "engine.device=tpu"], "engine.device='tpu' is not known"),
    ],
)
def test_a_kind_that_does_not_fit_its_keys_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        validate(compose(overrides))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_configs_composed_before_the_split_keep_their_identity(before_env, name):
    entry = BEFORE[name]
    now = OmegaConf.to_container(compose(entry["overrides"]), resolve=True)
    assert set(now["engine"]) < set(entry["config"]["engine"])  # fewer keys now
    assert config_identity(now) == entry["identity"] == config_identity(entry["config"])
    assert differs_in_one_run(entry["config"], now) is None
    stored = {"config": entry["config"], "suite_sha256": "x"}
    assert shard_fingerprint(stored) == shard_fingerprint({**stored, "config": now})


def test_what_decides_an_engines_results_still_changes_the_identity(before_env):
    base = BEFORE["vllm_cpu, the reasoner on chains"]
    for override in ("engine.block_size=16", "engine.seed=1", "engine.dtype=float32"):
        changed = compose([*base["overrides"], override])
        assert config_identity(OmegaConf.to_container(changed, resolve=True)) != base["identity"]
    served = BEFORE["openai completions server"]
    for override in ("engine.served_model=other", "engine.request_seeds=true"):
        changed = compose([*served["overrides"], override])
        assert config_identity(OmegaConf.to_container(changed, resolve=True)) != served["identity"]
    where = compose([*served["overrides"], "engine.base_url=http://127.0.0.1:7/v1"])
    assert config_identity(OmegaConf.to_container(where, resolve=True)) == served["identity"]


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_a_stored_config_from_before_reads_onto_its_kinds_schema(name):
    entry = BEFORE[name]
    cfg = structured(entry["config"])
    kind = ENGINES[entry["config"]["engine"]["kind"]]
    assert schema_of(cfg.engine) is kind.schema
    assert not foreign_keys(kind.name) & set(cfg.engine)
    again = OmegaConf.to_container(cfg, resolve=True)
    assert config_identity(again) == entry["identity"]


def test_a_stored_config_with_a_key_no_engine_has_still_fails():
    config = copy.deepcopy(BEFORE["fake engine, the default"]["config"])
    config["engine"]["scrpt"] = "chain"
    with pytest.raises(Exception, match="scrpt"):
        structured(config)
    config = copy.deepcopy(BEFORE["fake engine, the default"]["config"])
    config["engine"]["delay_s"] = "slow"  # a wrong type on the kind's own key
    with pytest.raises(Exception, match="delay_s"):
        structured(config)


def test_a_run_from_before_reproduces_and_resumes(tmp_path, before_env):
    """A fake run whose manifest has the 31 keys of before: --from-manifest
    runs it on today's schema, and a sweep of the same config resumes it."""
    first = bench(
        "sweep", "engine=fake", "suite=arith", "suite.limit=3", "budget.tokens=[8,16]",
        "engine.show_progress=false", "summary=false", "report=false", "plots=false",
        "run_name=old", cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    manifest_path = tmp_path / "results" / "old" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    keys_before = {
        **OpenAIEngineConfig.__dataclass_fields__,
        **VLLMEngineConfig.__dataclass_fields__,
    }
    engine = manifest["config"]["engine"]
    for key, item in {**keys_before, **FakeEngineConfig.__dataclass_fields__}.items():
        if key not in engine:
            default = item.default_factory() if callable(item.default_factory) else item.default
            engine[key] = default
    assert set(engine) == KEYS_BEFORE
    manifest["identity"] = config_identity(manifest["config"])
    manifest_path.write_text(json.dumps(manifest))

    again = bench(
        "sweep", "engine=fake", "suite=arith", "suite.limit=3", "budget.tokens=[8,16]",
        "summary=false", "report=false", "plots=false", "run_name=old", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    work = json.loads(manifest_path.read_text())["engine_work"]
    assert work["thinking_generated"] == manifest["engine_work"]["thinking_generated"] > 0
    assert work["answer_requests"] == manifest["engine_work"]["answer_requests"]
    repro = bench("sweep", "--from-manifest", str(manifest_path), "summary=false", cwd=tmp_path)
    assert repro.returncode == 0, repro.stderr
    made = json.loads((tmp_path / "results" / "old-repro" / "manifest.json").read_text())
    assert set(made["config"]["engine"]) == set(FakeEngineConfig.__dataclass_fields__)
    assert made["identity"] == manifest["identity"]


def test_every_engine_setting_is_outside_the_identity():
    for key in ("base_url", "base_urls", "concurrency", "in_process", "delay_s", "show_progress"):
        assert ("engine", key) in NOT_IN_IDENTITY
    for key in ("served_model", "block_size", "seed", "device", "api", "request_seeds"):
        assert ("engine", key) not in NOT_IN_IDENTITY
