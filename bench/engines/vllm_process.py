"""Where a vLLM engine runs: inside this process, or in processes of its own.

By default vLLM starts an engine-core process and, on the CPU build, a worker
process beside it; each imports torch and vLLM again. On a 2-core machine that
is most of an engine's start (measured with the slipper: 42 s with both
processes, 10 s in this process, generation as fast or faster). So
`engine.in_process=true` (vllm_cpu's default) builds the engine here
(VLLM_ENABLE_V1_MULTIPROCESSING=0, the uni executor).

Only one engine at a time can live in a process: vLLM keeps its parallel
groups in module globals, and an in-process engine's shutdown tears them down
(a second one beside it fails with "pipeline model parallel group is not
initialized"). A policy and a verifier alive together (beam search) therefore
run one here and the other in its own processes: whichever starts first gets
this process. An engine split over several devices always gets its own.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from typing import Any

from bench.config.engines import VLLMEngineConfig

_MULTIPROCESSING = "VLLM_ENABLE_V1_MULTIPROCESSING"
# The engine running inside this process, if any. A weak reference: an engine
# dropped without close() frees the slot (and its memory) when it is collected.
_holder: weakref.ref | None = None


def _held() -> object | None:
    return _holder() if _holder is not None else None


@contextlib.contextmanager
def placement(engine_cfg: VLLMEngineConfig, owner: object) -> Iterator[dict[str, Any]]:
    """Around `LLM(...)`: yields the options that place the engine, with the
    environment vLLM reads while it starts set to match."""
    global _holder
    single = engine_cfg.tensor_parallel_size * engine_cfg.pipeline_parallel_size == 1
    here = engine_cfg.in_process and single and _held() is None
    saved = os.environ.get(_MULTIPROCESSING)
    os.environ[_MULTIPROCESSING] = "0" if here else "1"
    _forget_cached_environment()
    try:
        yield {"distributed_executor_backend": "uni"} if here else {}
        if here:
            _holder = weakref.ref(owner)
    finally:
        # Restored for processes started later (a `vllm serve`); the engine
        # read it while it started (an in-process one cached it then).
        if saved is None:
            os.environ.pop(_MULTIPROCESSING, None)
        else:
            os.environ[_MULTIPROCESSING] = saved


def runs_here(owner: object) -> bool:
    return owner is not None and _held() is owner


def released(owner: object) -> None:
    """The engine `owner` has shut down: the next one may run in this process."""
    global _holder
    if _held() is owner:
        _holder = None


def _forget_cached_environment() -> None:
    """An in-process engine core freezes vLLM's view of the environment when it
    starts (`envs.enable_envs_cache`); the next engine must read it afresh."""
    from vllm import envs

    disable = getattr(envs, "disable_envs_cache", None)
    if disable is not None:
        disable()
