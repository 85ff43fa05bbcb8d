"""How a thinking budget is spent.

single -- cap the thinking and force the answer, with one generation serving
every budget (the budget-forcing cut of s1, Muennighoff et al. 2025,
"s1: Simple test-time scaling"):

  1. For each problem, generate the thinking once, up to the largest budget
     (stopping early where the model ends its thinking itself).
  2. For every budget b: if the model ended its thinking at k <= b tokens,
     keep that ending; otherwise cut the thinking at exactly b tokens and
     append the end-of-thinking delimiter plus a forced-answer cue.
  3. Decode only the short answer for every distinct continuation, in one
     batch. Prefix caching makes the shared thinking prefix nearly free, and
     all budgets at or past a natural ending share one continuation.

All splitting happens on the token ids the engine returned; text is decoded
only to find where a delimiter string starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.engines.base import Engine, Tokenizer
from bench.types import Attempt, Completion, GenerationRequest


@dataclass(frozen=True)
class ChainSettings:
    """What the strategy needs to know about the model (from its config)."""

    thinking_end: tuple[str, ...]
    forced_answer: str
    answer_stop: tuple[str, ...]
    answer_max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0


@dataclass
class StrategyStats:
    """Engine work one `run` caused, for the manifest and `bench perf`."""

    thinking_seconds: float = 0.0
    answer_seconds: float = 0.0
    thinking_generated: int = 0
    answer_generated: int = 0
    answer_requests: int = 0
    calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AttemptResult:
    prompt_index: int
    attempt: Attempt
    seconds: float  # engine time apportioned to this attempt by its generated tokens


def _strip_eos(ids: Sequence[int], eos: int | None) -> tuple[int, ...]:
    ids = tuple(ids)
    if eos is not None and ids and ids[-1] == eos:
        return ids[:-1]
    return ids


def thinking_length(tokenizer: Tokenizer, ids: Sequence[int], delimiter: str) -> int:
    """How many of `ids` come before the delimiter text starts (token boundary at or before it)."""
    full = tokenizer.decode(ids)
    position = full.rfind(delimiter)
    if position < 0:
        return len(ids)
    low, high = 0, len(ids)  # largest k with len(decode(ids[:k])) <= position
    while low < high:
        mid = (low + high + 1) // 2
        if len(tokenizer.decode(ids[:mid])) <= position:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class _Chain:
    ids: tuple[int, ...]
    natural_end: int | None  # thinking tokens before a delimiter the model wrote itself
    ended: bool  # the model stopped (EOS) without writing a delimiter


def _read_chain(tokenizer: Tokenizer, completion: Completion, settings: ChainSettings) -> _Chain:
    ids = _strip_eos(completion.token_ids, tokenizer.eos_token_id)
    if isinstance(completion.stop_reason, str) and completion.stop_reason in settings.thinking_end:
        return _Chain(ids, thinking_length(tokenizer, ids, completion.stop_reason), False)
    return _Chain(ids, None, completion.finish_reason == "stop")


class SingleChain:
    name = "single"

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings

    def run(
        self,
        engine: Engine,
        prompts: Sequence[tuple[int, ...]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
    ) -> tuple[list[AttemptResult], StrategyStats]:
        s = self.settings
        tokenizer = engine.tokenizer
        stats = StrategyStats()
        largest = max(budgets)
        # Room for a delimiter that starts right at the largest budget to finish.
        slack = max((len(tokenizer.encode(d)) for d in s.thinking_end), default=0)
        first = [
            GenerationRequest(
                prompt_ids=tuple(prompt),
                max_tokens=largest + slack,
                temperature=s.temperature,
                top_p=s.top_p,
                stop=s.thinking_end,
                n=samples,
                seed=seeds[i] if seeds is not None and engine.supports_request_seed else None,
            )
            for i, prompt in enumerate(prompts)
        ]
        started = time.perf_counter()
        chains_out = engine.generate(first, desc="thinking")
        stats.thinking_seconds = time.perf_counter() - started
        stats.calls.append(f"thinking: {len(first)} requests x n={samples}")

        forced_ids = tuple(tokenizer.encode(s.forced_answer))
        # (continuation key) -> continuation prompt; budgets sharing a key share a decode.
        continuations: dict[tuple, tuple[int, ...]] = {}
        plans: list[tuple[int, int, int, tuple, tuple[int, ...], tuple[int, ...], bool, str]] = []
        for i, completions in enumerate(chains_out):
            for sample, completion in enumerate(completions):
                chain = _read_chain(tokenizer, completion, s)
                stats.thinking_generated += len(completion.token_ids)
                for budget in budgets:
                    if chain.natural_end is not None and chain.natural_end <= budget:
                        key = ("natural", i, sample)
                        thinking = chain.ids[: chain.natural_end]
                        prefix = chain.ids[chain.natural_end :]
                        hit, finish = False, "natural"
                    elif chain.ended and len(chain.ids) <= budget:
                        key = ("ended", i, sample)
                        thinking, prefix = chain.ids, forced_ids
                        hit, finish = False, "no_delimiter"
                    else:
                        key = ("cut", i, sample, budget)
                        thinking, prefix = chain.ids[:budget], forced_ids
                        hit, finish = True, "cut"
                    continuations.setdefault(key, tuple(prompts[i]) + thinking + prefix)
                    plans.append((i, sample, budget, key, thinking, prefix, hit, finish))

        keys = list(continuations)
        answer_requests = [
            GenerationRequest(
                prompt_ids=continuations[k],
                max_tokens=s.answer_max_tokens,
                temperature=0.0,
                stop=s.answer_stop,
            )
            for k in keys
        ]
        started = time.perf_counter()
        answers_out = engine.generate(answer_requests, desc="answers")
        stats.answer_seconds = time.perf_counter() - started
        stats.answer_requests = len(answer_requests)
        stats.calls.append(f"answers: {len(answer_requests)} requests")
        answers = {}
        for key, outs in zip(keys, answers_out, strict=True):
            ids = _strip_eos(outs[0].token_ids, tokenizer.eos_token_id)
            answers[key] = ids
            stats.answer_generated += len(outs[0].token_ids)

        per_thinking_token = stats.thinking_seconds / max(stats.thinking_generated, 1)
        per_answer_token = stats.answer_seconds / max(stats.answer_generated, 1)
        results = []
        for i, sample, budget, key, thinking, prefix, hit, finish in plans:
            answer_ids = answers[key]
            natural_prefix = len(prefix) if finish == "natural" else 0
            seconds = (len(thinking) + natural_prefix) * per_thinking_token + (
                len(answer_ids) * per_answer_token
            )
            attempt = Attempt(
                budget=budget,
                sample=sample,
                thinking_ids=thinking,
                thinking_text=tokenizer.decode(thinking),
                answer_prefix_ids=prefix,
                answer_ids=answer_ids,
                answer_text=tokenizer.decode(prefix + answer_ids),
                hit_budget=hit,
                finish=finish,
            )
            results.append(AttemptResult(i, attempt, seconds))
        return results, stats


STRATEGIES = {"single": SingleChain}


def make_strategy(name: str, settings: ChainSettings) -> SingleChain:
    try:
        return STRATEGIES[name](settings)
    except KeyError:
        raise ValueError(
            f"strategy {name!r} is not known; choose one of: {', '.join(STRATEGIES)}"
        ) from None
