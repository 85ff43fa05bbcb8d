"""Engines turn token-id prompts into token-id completions.

`make_engine(cfg)` picks one from the `engine` config group; nothing heavy is
imported until an engine is actually built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.engines.base import Engine, Tokenizer

if TYPE_CHECKING:
    from bench.config.schema import EngineConfig, ModelConfig


def make_engine(
    engine_cfg: EngineConfig, model_cfg: ModelConfig, native_budget: bool = False
) -> Engine:
    """`native_budget`: configure vLLM's reasoning support so requests can carry
    a thinking_token_budget (strategy=native)."""
    if engine_cfg.kind == "fake":
        from bench.engines.fake import SCRIPTS, FakeEngine

        return FakeEngine(
            model_name=model_cfg.name,
            script=SCRIPTS[engine_cfg.script],
            delay_s=engine_cfg.delay_s,
            forced_answer=model_cfg.forced_answer if native_budget else None,
        )
    if engine_cfg.kind == "vllm" and engine_cfg.data_parallel_size > 1:
        from bench.engines.serve import ReplicatedVLLM

        return ReplicatedVLLM(engine_cfg, model_cfg, native_budget=native_budget)
    if engine_cfg.kind == "vllm":
        from bench.engines.vllm import VLLMEngine

        return VLLMEngine(engine_cfg, model_cfg, native_budget=native_budget)
    if engine_cfg.kind == "openai":
        from bench.engines.openai import OpenAIEngine

        return OpenAIEngine(engine_cfg, model_cfg, native_budget=native_budget)
    raise ValueError(f"engine.kind={engine_cfg.kind!r} is not known; choose fake, vllm or openai")


__all__ = ["Engine", "Tokenizer", "make_engine"]
