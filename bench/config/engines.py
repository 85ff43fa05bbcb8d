"""The kinds of engine: each one's config (the `engine` group's schema for
that kind) and what it can do, found by `engine.kind` in one registry instead
of comparing kind strings across the code. The engines themselves are built
in bench/engines/__init__.py under the same names (a test holds the two to
one set of kinds).

Every kind's config extends EngineConfig, the keys all engines have. A key
of one kind is not a key of another: `engine=vllm_cpu engine.base_url=...`
fails at start-up naming the key, as a typo does.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, OmegaConf

from bench.config.fields import added, setting

DEVICES = ("cuda", "cpu")
# What the fake engine writes (bench/engines/fake.py): arithmetic answers, code, or chains.
FAKE_SCRIPTS = ("default", "code", "chain")
CHAT_APIS = ("completions", "chat")


@dataclass
class EngineConfig:
    """The keys every engine has."""

    kind: str = MISSING  # one of ENGINES
    # Where the model runs (one of DEVICES): prices device-hours in cost
    # tables; for engine=openai, what the server runs on.
    device: str = "cuda"
    seed: int = 0
    show_progress: bool = setting(True)


@dataclass
class VLLMEngineConfig(EngineConfig):
    """vLLM in this process or its own (engine=vllm, engine=vllm_cpu)."""

    dtype: str | None = None  # overrides the model's dtype
    max_model_len: int | None = None  # overrides the model's
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    enforce_eager: bool = False
    kv_cache_space_gib: int | None = None  # CPU build: VLLM_CPU_KVCACHE_SPACE
    # KV-cache block size; prefix caching reuses whole blocks only, so smaller
    # blocks recompute less of each answer continuation. None: vLLM's default.
    block_size: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # set before the engine starts
    # Build the engine inside this process instead of vLLM's engine-core and
    # worker processes (bench/engines/vllm_process.py): a quarter of the start-up.
    # Where vLLM's engine runs (this process or its own): the same model, seed
    # and sampler. Samples are not bit-equal across the two, but in its own
    # processes the CPU build's batches follow timing, so they never were.
    in_process: bool = setting(False)
    # Several GPUs: tensor/pipeline parallel inside one engine; data parallel
    # = that many engines (`vllm serve` replicas on their own GPU groups, fed
    # through the openai engine with problem affinity).
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1


@dataclass
class OpenAIEngineConfig(EngineConfig):
    """Any OpenAI-compatible server (engine=openai, engine=openai_chat). The API
    key is read from the environment variable named here and never written to
    records or manifests. Where the server is and how we talk to it are
    settings; its version and model name (what decides the output) are in the
    record keys."""

    base_url: str | None = setting(None)
    base_urls: list[str] = setting(factory=list)  # replicas (overrides base_url)
    api_key_env: str | None = setting("OPENAI_API_KEY")
    served_model: str | None = None  # the server's model name (default: model.name)
    concurrency: int = setting(64)  # requests in flight at once (over all replicas)
    request_timeout_s: float = setting(600.0)
    max_retries: int = setting(5)  # after the first try, on 408/429/5xx/timeouts/bad JSON
    backoff_s: float = setting(1.0)  # first retry waits ~this; doubles per retry
    backoff_max_s: float = setting(60.0)
    request_seeds: bool = True  # send per-request seeds (vLLM's CPU build crashes on them)
    return_token_ids: bool = True  # ask for the server's token ids (vLLM >= 0.10.2)
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request
    tokenizer: str | None = None  # None: the model's own; "bytes": the scripted test server
    # completions: token-id prompts, every strategy. chat: messages in,
    # reasoning text + usage out (hosted reasoning APIs), strategy=api only.
    api: str = "completions"  # one of CHAT_APIS


@dataclass
class FakeEngineConfig(EngineConfig):
    """Scripted text, no model, no server: tests and dry runs only."""

    delay_s: float = setting(0.0)  # simulated latency per finished request
    script: str = added("default")  # what it writes (FAKE_SCRIPTS)


@dataclass(frozen=True)
class EngineTraits:
    # Loads the model in this process (or processes it starts): a reward model
    # can run beside it on vLLM's pooling runner, and it has device costs.
    runs_model: bool
    # Talks to a server: its budget knobs may be ignored, and a chat API
    # (engine.api=chat) is possible.
    remote: bool
    # Writes scripted text for tests and dry runs: no model, no server.
    scripted: bool
    # Holds processes that must die with the sweep (vLLM's engine core, HTTP
    # pools to replicas it started): a watchdog guards them.
    needs_watchdog: bool


@dataclass(frozen=True)
class EngineKind:
    name: str
    schema: type[EngineConfig]  # registered as engine/<name>_schema
    traits: EngineTraits


ENGINES = {
    kind.name: kind
    for kind in (
        EngineKind(
            "vllm",
            VLLMEngineConfig,
            EngineTraits(runs_model=True, remote=False, scripted=False, needs_watchdog=True),
        ),
        EngineKind(
            "openai",
            OpenAIEngineConfig,
            EngineTraits(runs_model=False, remote=True, scripted=False, needs_watchdog=True),
        ),
        EngineKind(
            "fake",
            FakeEngineConfig,
            EngineTraits(runs_model=False, remote=False, scripted=True, needs_watchdog=False),
        ),
    )
}


def engine_kind(kind: Any) -> EngineKind:
    try:
        return ENGINES[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"engine.kind={kind!r} is not known; choose one of: {', '.join(ENGINES)}"
        ) from None


def traits(kind: Any) -> EngineTraits:
    return engine_kind(kind).traits


def uses_chat_api(engine_cfg: Any) -> bool:
    """Messages in, reasoning text and usage out (engine=openai_chat)."""
    return traits(engine_cfg.kind).remote and engine_cfg.api == "chat"


def schema_of(engine_cfg: Any) -> type | None:
    """The schema class an engine config was built on (a DictConfig's or a dataclass's)."""
    if OmegaConf.is_config(engine_cfg):
        return OmegaConf.get_type(engine_cfg)
    return type(engine_cfg)


def engine_fields() -> dict[str, dataclasses.Field]:
    """Every key some engine has (EngineConfig's first), each kind's own after."""
    found: dict[str, dataclasses.Field] = {}
    for cls in (EngineConfig, *(kind.schema for kind in ENGINES.values())):
        for item in dataclasses.fields(cls):
            found.setdefault(item.name, item)
    return found


def field_default(item: dataclasses.Field) -> Any:
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None if item.default is MISSING else item.default


def foreign_keys(kind: Any) -> set[str]:
    """The keys other kinds of engine have and this one has not."""
    own = {item.name for item in dataclasses.fields(engine_kind(kind).schema)}
    return set(engine_fields()) - own


def job_cpus(engine: Any) -> int:
    """CPUs a launcher reserves for one job: the CPU engine wants the cores of
    the machine that launches (vLLM's CPU build uses every core it is given);
    a GPU engine a few for tokenizing and grading; the fake and served engines one."""
    if traits(engine.kind).runs_model and engine.device == "cpu":
        return os.cpu_count() or 1
    return 4 if traits(engine.kind).runs_model else 1


def job_gpus(engine: Any) -> int:
    """GPUs one job needs: tensor x pipeline parallel size for vLLM on CUDA, else none."""
    if traits(engine.kind).runs_model and engine.device == "cuda":
        return int(engine.tensor_parallel_size) * int(engine.pipeline_parallel_size)
    return 0
