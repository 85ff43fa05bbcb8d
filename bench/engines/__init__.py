"""Engines turn token-id prompts into token-id completions.

`make_engine(cfg)` picks one from the `engine` config group; nothing heavy is
imported until an engine is actually built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.engines.base import Engine, Tokenizer

if TYPE_CHECKING:
    from bench.config.engines import (
        EngineConfig,
        FakeEngineConfig,
        OpenAIEngineConfig,
        VLLMEngineConfig,
    )
    from bench.config.schema import ModelConfig


def _fake(engine_cfg: FakeEngineConfig, model_cfg: ModelConfig, native_budget: bool) -> Engine:
    from bench.engines.fake import SCRIPTS, FakeEngine

    return FakeEngine(
        model_name=model_cfg.name,
        script=SCRIPTS[engine_cfg.script],
        delay_s=engine_cfg.delay_s,
        forced_answer=model_cfg.forced_answer if native_budget else None,
    )


def _vllm(engine_cfg: VLLMEngineConfig, model_cfg: ModelConfig, native_budget: bool) -> Engine:
    if engine_cfg.data_parallel_size > 1:  # replicas: `vllm serve` per GPU group
        from bench.engines.serve import ReplicatedVLLM

        return ReplicatedVLLM(engine_cfg, model_cfg, native_budget=native_budget)
    from bench.engines.vllm import VLLMEngine

    return VLLMEngine(engine_cfg, model_cfg, native_budget=native_budget)


def _openai(engine_cfg: OpenAIEngineConfig, model_cfg: ModelConfig, native_budget: bool) -> Engine:
    from bench.engines.openai import OpenAIEngine

    return OpenAIEngine(engine_cfg, model_cfg, native_budget=native_budget)


# engine.kind -> its builder; each kind's config and what it can do are
# bench/config/engines.py's ENGINES, under the same names.
BUILDERS: dict[str, Callable[[Any, ModelConfig, bool], Engine]] = {
    "fake": _fake,
    "vllm": _vllm,
    "openai": _openai,
}


def make_engine(
    engine_cfg: EngineConfig, model_cfg: ModelConfig, native_budget: bool = False
) -> Engine:
    """`native_budget`: configure vLLM's reasoning support so requests can carry
    a thinking_token_budget (strategy=native)."""
    build = BUILDERS.get(engine_cfg.kind)
    if build is None:
        raise ValueError(
            f"engine.kind={engine_cfg.kind!r} is not known; choose one of: {', '.join(BUILDERS)}"
        )
    return build(engine_cfg, model_cfg, native_budget)


__all__ = ["Engine", "Tokenizer", "make_engine"]
