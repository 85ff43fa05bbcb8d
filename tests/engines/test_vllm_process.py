"""Where a vLLM engine runs (bench/engines/vllm_process.py): in this process
when the config asks and no other engine holds it, else in its own processes,
with the environment vLLM reads while starting set to match and put back."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("vllm", reason="vLLM (CPU build) is installed by make setup")

from bench.config.engines import VLLMEngineConfig  # noqa: E402
from bench.engines import vllm_process  # noqa: E402
from bench.engines.vllm_process import placement, released, runs_here  # noqa: E402

VAR = "VLLM_ENABLE_V1_MULTIPROCESSING"


@pytest.fixture(autouse=True)
def nobody_holds_it(monkeypatch):
    monkeypatch.setattr(vllm_process, "_holder", None)
    monkeypatch.delenv(VAR, raising=False)


class Engine:  # what holds the slot: any object that can be weakly referenced
    pass


def _cfg(**kw) -> VLLMEngineConfig:
    return VLLMEngineConfig(kind="vllm", device="cpu", **{"in_process": True, **kw})


def test_the_first_engine_runs_here_and_the_environment_is_put_back():
    policy = Engine()
    with placement(_cfg(), policy) as where:
        assert where == {"distributed_executor_backend": "uni"}
        assert os.environ[VAR] == "0"
        assert not runs_here(policy)  # not until it has started
    assert runs_here(policy)
    assert VAR not in os.environ


def test_a_second_engine_beside_it_gets_its_own_processes():
    policy, verifier = Engine(), Engine()
    with placement(_cfg(), policy):
        pass
    with placement(_cfg(), verifier) as where:
        assert where == {}
        assert os.environ[VAR] == "1"
    assert runs_here(policy) and not runs_here(verifier)
    released(verifier)  # the other one's release frees nothing
    assert runs_here(policy)
    released(policy)
    later = Engine()
    with placement(_cfg(), later) as where:  # freed: the next one runs here
        assert where == {"distributed_executor_backend": "uni"}
    assert runs_here(later)


@pytest.mark.parametrize(
    "cfg",
    [
        _cfg(in_process=False),
        _cfg(tensor_parallel_size=2),
        _cfg(pipeline_parallel_size=2),
    ],
    ids=["not asked", "tensor parallel", "pipeline parallel"],
)
def test_engines_that_cannot_or_need_not_run_here(cfg):
    owner = Engine()
    with placement(cfg, owner) as where:
        assert where == {} and os.environ[VAR] == "1"
    assert not runs_here(owner)


def test_a_failed_start_holds_nothing_and_restores_the_users_setting(monkeypatch):
    monkeypatch.setenv(VAR, "0")  # the user's own, kept for what starts later
    owner = Engine()
    with pytest.raises(RuntimeError), placement(_cfg(), owner):
        raise RuntimeError("the engine did not start")
    assert not runs_here(owner)
    assert os.environ[VAR] == "0"
    with placement(_cfg(), Engine()) as where:  # still free
        assert where == {"distributed_executor_backend": "uni"}


def test_an_engine_dropped_without_close_frees_the_slot():
    import gc

    forgotten = Engine()
    with placement(_cfg(), forgotten):
        pass
    assert runs_here(forgotten)
    del forgotten
    gc.collect()
    with placement(_cfg(), Engine()) as where:  # nothing keeps the dropped one alive
        assert where == {"distributed_executor_backend": "uni"}


def test_vllms_cached_environment_is_read_afresh_for_the_next_engine():
    from vllm import envs

    envs.enable_envs_cache()  # what an in-process engine core does as it starts
    try:
        with placement(_cfg(in_process=False), Engine()):
            assert envs.VLLM_ENABLE_V1_MULTIPROCESSING is True
        with placement(_cfg(), Engine()):
            assert envs.VLLM_ENABLE_V1_MULTIPROCESSING is False
    finally:
        envs.disable_envs_cache()
