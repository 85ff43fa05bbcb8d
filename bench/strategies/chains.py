"""How a thinking budget is spent.

single -- cap the thinking and force the answer, with one generation serving
every budget (the budget-forcing cut of s1, Muennighoff et al. 2025,
"s1: Simple test-time scaling"):

  1. For each problem, generate the thinking once, up to the largest budget
     (stopping early where the model ends its thinking itself).
  2. For every budget b: if the model ended its thinking at k <= b tokens,
     keep that ending; otherwise cut the thinking at exactly b tokens and
     append the end-of-thinking delimiter plus a forced-answer cue.
  3. Decode only the short answer for every distinct continuation. Each
     chain's continuations join the running batch the moment the chain ends,
     so they fill the engine while slower chains still think. Prefix caching
     makes the shared thinking prefix nearly free, and all budgets at or past
     a natural ending share one continuation.

All splitting happens on the token ids the engine returned; text is decoded
only to find where a delimiter string starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
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
    """Engine work one run caused, for the manifest and `bench perf`."""

    seconds: float = 0.0
    thinking_generated: int = 0
    answer_generated: int = 0
    answer_requests: int = 0
    calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AttemptResult:
    prompt_index: int
    attempt: Attempt
    # Engine time apportioned to this attempt: its tokens (thinking, delimiter,
    # answer) times the sweep's engine seconds per generated token so far.
    seconds: float


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


@dataclass
class _Pending:
    """One prompt's attempts while their answers are still being decoded."""

    plans: list[tuple[int, int, tuple, tuple[int, ...], tuple[int, ...], bool, str]]
    outstanding: set[tuple]


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
        """All attempts at once, in prompt order (for tests and benchmarks)."""
        stats = StrategyStats()
        done: list[AttemptResult] = []
        for results in self.stream(engine, prompts, budgets, samples, seeds, stats):
            done.extend(results)
        done.sort(key=lambda r: (r.prompt_index, r.attempt.sample, r.attempt.budget))
        return done, stats

    def stream(
        self,
        engine: Engine,
        prompts: Sequence[tuple[int, ...]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
        stats: StrategyStats | None = None,
    ) -> Iterator[list[AttemptResult]]:
        """Yield each prompt's attempts (every sample x budget) as soon as they are complete.

        Every chain goes to the engine at once; the moment a chain ends, its
        answer continuations join the same running batch.
        """
        s = self.settings
        stats = stats if stats is not None else StrategyStats()
        tokenizer = engine.tokenizer
        largest = max(budgets)
        # Room for a delimiter that starts right at the largest budget to finish.
        slack = max((len(tokenizer.encode(d)) for d in s.thinking_end), default=0)
        forced_ids = tuple(tokenizer.encode(s.forced_answer))
        started = time.perf_counter()
        stream = engine.stream(desc="generate")
        for i, prompt in enumerate(prompts):
            stream.submit(
                ("think", i),
                GenerationRequest(
                    prompt_ids=tuple(prompt),
                    max_tokens=largest + slack,
                    temperature=s.temperature,
                    top_p=s.top_p,
                    stop=s.thinking_end,
                    n=samples,
                    seed=seeds[i] if seeds is not None and engine.supports_request_seed else None,
                ),
            )
        stats.calls.append(f"thinking: {len(prompts)} requests x n={samples}")
        pending: dict[int, _Pending] = {}
        answers: dict[tuple, tuple[int, ...]] = {}
        engine_counts: dict[tuple, int] = {}
        for tag, completions in stream:
            if tag[0] == "think":
                i = tag[1]
                entry = pending[i] = _Pending([], set())
                for sample, completion in enumerate(completions):
                    stats.thinking_generated += len(completion.token_ids)
                    chain = _read_chain(tokenizer, completion, s)
                    for budget in budgets:
                        key, thinking, prefix, hit, finish = self._plan(
                            chain, i, sample, budget, forced_ids
                        )
                        entry.plans.append((sample, budget, key, thinking, prefix, hit, finish))
                        if key not in entry.outstanding:
                            entry.outstanding.add(key)
                            stats.answer_requests += 1
                            stream.submit(
                                ("answer", key),
                                GenerationRequest(
                                    prompt_ids=tuple(prompts[i]) + thinking + prefix,
                                    max_tokens=s.answer_max_tokens,
                                    temperature=0.0,
                                    stop=s.answer_stop,
                                ),
                            )
                continue
            key = tag[1]
            completion = completions[0]
            stats.answer_generated += len(completion.token_ids)
            answer_ids = _strip_eos(completion.token_ids, tokenizer.eos_token_id)
            answers[key] = answer_ids
            if completion.prompt_tokens is not None:
                engine_counts[key] = completion.prompt_tokens + len(answer_ids)
            entry = pending[key[1]]
            entry.outstanding.discard(key)
            if not entry.outstanding:
                elapsed = time.perf_counter() - started
                per_token = elapsed / max(stats.thinking_generated + stats.answer_generated, 1)
                yield self._attempts(
                    key[1], pending.pop(key[1]), answers, engine_counts, tokenizer, per_token
                )
        stats.seconds = time.perf_counter() - started
        stats.calls.append(f"answers: {stats.answer_requests} requests")

    @staticmethod
    def _plan(chain: _Chain, i: int, sample: int, budget: int, forced_ids: tuple[int, ...]):
        """Which thinking an attempt at `budget` keeps, and how its answer is cued."""
        if chain.natural_end is not None and chain.natural_end <= budget:
            # The model ended its thinking itself within budget: keep its own delimiter.
            key = ("natural", i, sample)
            return (
                key,
                chain.ids[: chain.natural_end],
                chain.ids[chain.natural_end :],
                False,
                "natural",
            )
        if chain.ended and len(chain.ids) <= budget:
            # It stopped without writing a delimiter: cue the answer, nothing was cut.
            return ("ended", i, sample), chain.ids, forced_ids, False, "no_delimiter"
        return ("cut", i, sample, budget), chain.ids[:budget], forced_ids, True, "cut"

    @staticmethod
    def _attempts(i, entry, answers, engine_counts, tokenizer, per_token) -> list[AttemptResult]:
        results = []
        for sample, budget, key, thinking, prefix, hit, finish in entry.plans:
            answer_ids = answers[key]
            natural_prefix = len(prefix) if finish == "natural" else 0
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
                engine_tokens=engine_counts.get(key),
            )
            seconds = (len(thinking) + natural_prefix + len(answer_ids)) * per_token
            results.append(AttemptResult(i, attempt, seconds))
        for _, _, key, *_ in entry.plans:
            answers.pop(key, None)
            engine_counts.pop(key, None)
        return results


STRATEGIES = {"single": SingleChain}


def make_strategy(name: str, settings: ChainSettings) -> SingleChain:
    try:
        return STRATEGIES[name](settings)
    except KeyError:
        raise ValueError(
            f"strategy {name!r} is not known; choose one of: {', '.join(STRATEGIES)}"
        ) from None
