"""native -- the engine enforces the budget: vLLM's
`SamplingParams.thinking_token_budget`, with a reasoning config telling it
where thinking starts (the model's reasoning parser, or a start string) and
what to force at the budget (the model's forced_answer).

One generation per budget: the engine decides the cut, so nothing is reused
across budgets (the price of this way; compare with `single`). Each output
is split after the fact at the first end-of-thinking delimiter it contains.
Older vLLM builds silently ignore budgets they do not know, so support is
checked at start-up and a missing piece stops the run with a message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench.config.engines import traits
from bench.config.schema import ConfigError, EngineConfig, ModelConfig
from bench.engines.base import Engine, Tokenizer
from bench.strategies.base import (
    AttemptResult,
    ChainSettings,
    Strategy,
    StrategyStats,
    strip_eos,
    thinking_length,
)
from bench.strategies.job import Gather, Job
from bench.strategies.plugin import StrategyPlugin
from bench.types import Attempt, GenerationRequest


def check_support(engine_cfg: EngineConfig, model_cfg: ModelConfig) -> None:
    """Raise ConfigError unless this engine and model can enforce a native budget."""
    if traits(engine_cfg.kind).scripted:
        return  # the scripted engine enforces budgets like vLLM does (for tests)
    if traits(engine_cfg.kind).remote:
        # Sent as an extra body field; a vLLM server started with a reasoning
        # config honours it. One that ignores it thinks past the budget, and
        # the run's adherence check says so and fails the run.
        return
    if not traits(engine_cfg.kind).runs_model:
        raise ConfigError(
            f"strategy=native needs vLLM's thinking_token_budget; engine.kind={engine_cfg.kind!r} "
            "has none (use engine=vllm, engine=vllm_cpu or engine=openai)"
        )
    try:
        from vllm import SamplingParams
    except ImportError as exc:
        raise ConfigError("strategy=native needs vLLM installed (make setup)") from exc
    if "thinking_token_budget" not in getattr(SamplingParams, "__struct_fields__", ()):
        import vllm

        raise ConfigError(
            f"strategy=native: vLLM {vllm.__version__} has no SamplingParams.thinking_token_budget "
            "(it would run unbudgeted); upgrade vLLM or use strategy=single"
        )
    if not (model_cfg.reasoning_parser or model_cfg.reasoning_start):
        raise ConfigError(
            f"strategy=native: model {model_cfg.name} sets neither model.reasoning_parser nor "
            "model.reasoning_start, so vLLM cannot tell where thinking starts; set one"
        )


def _split_at(tokenizer: Tokenizer, ids: Sequence[int], text: str) -> int:
    """Tokens before the first occurrence of `text` (all of them if absent)."""
    return thinking_length(tokenizer, ids, text, first=True)


class NativeBudget(Strategy):
    name = "native"

    def stream(
        self, engine: Engine, job: Job, stats: StrategyStats | None = None
    ) -> Iterator[list[AttemptResult]]:
        s = self.settings
        stats = stats if stats is not None else StrategyStats()
        tokenizer = engine.tokenizer
        forced = len(tokenizer.encode(s.forced_answer))
        started = time.perf_counter()
        stream = engine.stream(desc="generate (native budgets)")
        gather = Gather()
        for problem in job.problems:
            i = problem.index
            answer_tokens, _ = problem.answer_settings(s.answer_max_tokens, s.answer_stop)
            gather.expect(i, job.budgets)
            for budget in job.budgets:
                stream.submit(
                    (i, budget),
                    GenerationRequest(
                        prompt_ids=problem.prompt,
                        # budget, the forced end, the answer, and room for a
                        # delimiter the model starts itself just before the budget
                        max_tokens=budget + forced + answer_tokens + 8,
                        temperature=s.temperature,
                        top_p=s.top_p,
                        top_k=s.top_k,
                        n=job.samples,
                        seed=problem.request_seed(engine),
                        logprobs=s.logprobs,
                        thinking_token_budget=budget,
                        affinity=i,
                    ),
                )
        stats.calls.append(f"native: {len(job) * len(job.budgets)} requests x n={job.samples}")
        for (i, budget), completions in stream:
            generated = sum(len(c.token_ids) for c in completions)
            stats.thinking_generated += generated
            per_token = (time.perf_counter() - started) / max(stats.thinking_generated, 1)
            _, answer_stop = job.problems[i].answer_settings(s.answer_max_tokens, s.answer_stop)
            results = [
                AttemptResult(
                    i,
                    self._attempt(tokenizer, completion, budget, sample, answer_stop),
                    len(completion.token_ids) * per_token,
                )
                for sample, completion in enumerate(completions)
            ]
            done = gather.arrive(i, budget, results)
            if done is not None:
                yield done
        stats.seconds = time.perf_counter() - started

    def _attempt(
        self, tokenizer: Tokenizer, completion: Any, budget: int, sample: int, answer_stop
    ) -> Attempt:
        s = self.settings
        ids = strip_eos(completion.token_ids, tokenizer.eos_token_id)
        # The first end of thinking, whether the model wrote it or vLLM forced it.
        ends = [(_split_at(tokenizer, ids, d), d) for d in (*s.thinking_end, s.forced_answer)]
        end, delimiter = min(ends, key=lambda e: e[0])
        thinking = ids[:end]
        rest = ids[end:]
        if end == len(ids):
            prefix, answer, finish = (), (), "no_delimiter"
        else:
            after = 1  # the delimiter's tokens: the shortest head of `rest` containing it
            while after < len(rest) and delimiter not in tokenizer.decode(rest[:after]):
                after += 1
            prefix, answer = rest[:after], rest[after:]
            # The answer ends at the model's answer stop; what follows is paid for, not graded.
            cut = min((_split_at(tokenizer, answer, stop) for stop in answer_stop), default=None)
            if cut is not None and cut < len(answer):
                answer = answer[: _include_stop(tokenizer, answer, cut, answer_stop)]
            finish = "cut" if len(thinking) >= budget else "natural"
        certainty = completion.token_certainty
        return Attempt(
            budget=budget,
            sample=sample,
            thinking_ids=tuple(thinking),
            thinking_text=tokenizer.decode(thinking),
            answer_prefix_ids=tuple(prefix),
            answer_ids=tuple(answer),
            answer_text=tokenizer.decode(tuple(prefix) + tuple(answer)),
            hit_budget=finish == "cut",
            finish=finish,
            # The engine's own count: everything it decoded in this one request,
            # including what followed the answer stop (discarded_tokens).
            engine_tokens=completion.prompt_tokens + len(ids)
            if completion.prompt_tokens is not None
            else None,
            certainty=(sum(certainty) / len(certainty)) if certainty else None,
            discarded_tokens=len(ids) - len(thinking) - len(prefix) - len(answer),
        )


def _include_stop(tokenizer: Tokenizer, ids: Sequence[int], cut: int, stops: Sequence[str]) -> int:
    """Extend a cut at a stop string's start to just past the stop string."""
    k = cut
    while k < len(ids) and not any(tokenizer.decode(ids[:k]).endswith(st) for st in stops):
        k += 1
    return k


class Native(StrategyPlugin):
    name = "native"
    summary = "vLLM's own thinking_token_budget: one generation per budget"
    budget_control = "native"
    without_thinking = False

    def check_engine(self, engine_cfg: EngineConfig, model_cfg: ModelConfig) -> None:
        check_support(engine_cfg, model_cfg)

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        return NativeBudget(settings)


PLUGIN = Native()
