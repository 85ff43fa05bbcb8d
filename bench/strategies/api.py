"""api -- a hosted reasoning API decides how to think within the budget.

One chat request per problem x budget x sample (engine.api=chat, see
engines/chat.py): the budget goes out through the model's knob, the server
returns its reasoning text beside the answer, and the counts come from
usage (`reasoning_tokens`; where a server gives none, our own encoding of
the reasoning text). Nothing is shared across budgets: the server does the
thinking, so every budget is a generation of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from bench.engines.base import Engine
from bench.strategies.base import (
    AttemptResult,
    ChainSettings,
    Strategy,
    StrategyStats,
)
from bench.strategies.job import Gather, Job
from bench.strategies.plugin import StrategyPlugin
from bench.types import Attempt, Completion, GenerationRequest

if TYPE_CHECKING:
    from bench.config.schema import ModelConfig


class ApiBudget(Strategy):
    name = "api"

    def __init__(self, settings, knob: str = "max_tokens", effort: Sequence[str] = ()) -> None:
        """`effort`: with knob=reasoning_effort, the level of each budget, in budget order."""
        super().__init__(settings)
        self.knob = knob
        self.effort = list(effort)

    def request(
        self, messages, budget: int, level: int, answer_tokens: int, seed: int | None, affinity: int
    ) -> GenerationRequest:
        """`level`: the budget's place in the sweep's budgets (its effort level)."""
        s = self.settings
        knob = {}
        if self.knob == "reasoning_effort":
            knob["reasoning_effort"] = self.effort[level]
        elif self.knob == "thinking_token_budget":
            knob["thinking_token_budget"] = budget
        return GenerationRequest(
            prompt_ids=(),
            messages=tuple(messages),
            # max_tokens caps reasoning + answer; with the other knobs it only
            # keeps a runaway answer from costing more than the budget allows.
            max_tokens=budget + answer_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            seed=seed,
            affinity=affinity,
            **knob,
        )

    def stream(
        self, engine: Engine, job: Job, stats: StrategyStats | None = None
    ) -> Iterator[list[AttemptResult]]:
        s = self.settings
        stats = stats if stats is not None else StrategyStats()
        started = time.perf_counter()
        stream = engine.stream(desc=f"generate (api, {self.knob})")
        gather = Gather()
        for problem in job.problems:
            i = problem.index
            answer_tokens, _ = problem.answer_settings(s.answer_max_tokens, s.answer_stop)
            tags = [(i, b, k) for b in job.budgets for k in range(job.samples)]
            gather.expect(i, tags)
            for level, budget in enumerate(job.budgets):
                for sample in range(job.samples):
                    seed = problem.request_seed(engine, sample=sample)
                    request = self.request(problem.prompt, budget, level, answer_tokens, seed, i)
                    stream.submit((i, budget, sample), request)
        stats.calls.append(f"api: {len(job) * len(job.budgets) * job.samples} chat requests")
        for tag, completions in stream:
            i, budget, sample = tag
            attempt = self._attempt(engine, completions[0], budget, sample)
            generated = attempt.thinking_tokens + attempt.answer_tokens
            stats.thinking_generated += attempt.thinking_tokens
            stats.answer_generated += attempt.answer_tokens
            total = stats.thinking_generated + stats.answer_generated
            per_token = (time.perf_counter() - started) / max(total, 1)
            done = gather.arrive(i, tag, [AttemptResult(i, attempt, generated * per_token)])
            if done is not None:
                yield done
        stats.seconds = time.perf_counter() - started

    def _attempt(self, engine: Engine, c: Completion, budget: int, sample: int) -> Attempt:
        reasoning = c.reasoning_text or ""
        if c.reasoning_tokens is not None:
            thinking = c.reasoning_tokens
        else:  # no reasoning_tokens in usage: count the reasoning text ourselves
            thinking = len(engine.tokenizer.encode(reasoning)) if reasoning else 0
        answer = max((c.completion_tokens or 0) - thinking, 0)
        if c.completion_tokens is None:
            answer = len(engine.tokenizer.encode(c.text))
        cut = c.finish_reason == "length" or thinking >= budget
        finish = "cut" if cut else "natural" if c.text.strip() else "no_delimiter"
        return Attempt(
            budget=budget,
            sample=sample,
            thinking_ids=(),
            thinking_text=reasoning,
            answer_prefix_ids=(),
            answer_ids=(),
            answer_text=c.text,
            hit_budget=cut,
            finish=finish,
            # usage is the server's own count already; nothing to check it against
            engine_tokens=None,
            counted_prompt=c.prompt_tokens,
            counted_thinking=thinking,
            counted_answer=answer,
        )


class Api(StrategyPlugin):
    name = "api"
    summary = "a hosted reasoning API's own budget knob, chat requests"
    budget_control = "advisory"
    messages = True
    without_thinking = False

    def build(self, settings: ChainSettings, model_cfg: ModelConfig) -> Strategy:
        if model_cfg is None:
            return ApiBudget(settings)
        return ApiBudget(settings, model_cfg.budget_knob, list(model_cfg.reasoning_effort))


PLUGIN = Api()
