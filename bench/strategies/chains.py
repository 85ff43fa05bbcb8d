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

wait -- the same, but a chain that ends its thinking before the largest
budget has the delimiter suppressed and "Wait" appended, and thinks on, up to
`max_extensions` times (s1's budget forcing used to *extend*). The extended
chain then serves every budget as above; each attempt records how many
extensions its kept thinking contains.

sc / bon -- `samples` chains per problem in one request (n sampling, prefix
shared); voting and verifier selection happen in analysis (analysis/voting.py),
so every budget and every k come from the same pool of samples.

All splitting happens on the token ids the engine returned; text is decoded
only to find where a delimiter string starts.
"""

from __future__ import annotations

import math
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
    top_k: int | None = None
    # The answer after the thinking is greedy; a model's non-thinking mode
    # (whose whole response is the answer) samples it at its own temperature.
    answer_temperature: float = 0.0
    # strategy=wait: what replaces a suppressed end of thinking, and how often.
    wait: str = ""
    max_extensions: int = 0
    # Top log-probabilities per token, for the self-certainty verifier.
    logprobs: int | None = None


@dataclass
class StrategyStats:
    """Engine work one run caused, for the manifest and `bench perf`."""

    seconds: float = 0.0
    thinking_generated: int = 0
    answer_generated: int = 0
    answer_requests: int = 0
    extension_requests: int = 0
    calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AttemptResult:
    prompt_index: int
    attempt: Attempt
    # Engine time apportioned to this attempt: its tokens (thinking, delimiter,
    # answer) times the sweep's engine seconds per generated token so far.
    seconds: float


# Answer requests are seeded apart from the thinking and its "Wait" extensions.
ANSWER_SEED_OFFSET = 104729


def _strip_eos(ids: Sequence[int], eos: int | None) -> tuple[int, ...]:
    ids = tuple(ids)
    if eos is not None and ids and ids[-1] == eos:
        return ids[:-1]
    return ids


def thinking_length(
    tokenizer: Tokenizer, ids: Sequence[int], delimiter: str, first: bool = False
) -> int:
    """How many of `ids` come before the delimiter text starts (token boundary at
    or before it): its last occurrence, or with `first` its first one."""
    full = tokenizer.decode(ids)
    position = full.find(delimiter) if first else full.rfind(delimiter)
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
    # Per token of `ids`: self-certainty, NaN where we inserted the token ("Wait").
    certainty: tuple[float, ...] = ()
    wait_positions: tuple[int, ...] = ()  # where each "Wait" was inserted


def _read_chain(tokenizer: Tokenizer, completion: Completion, settings: ChainSettings) -> _Chain:
    ids = _strip_eos(completion.token_ids, tokenizer.eos_token_id)
    certainty = tuple(completion.token_certainty or ())[: len(ids)]
    if isinstance(completion.stop_reason, str) and completion.stop_reason in settings.thinking_end:
        natural_end = thinking_length(tokenizer, ids, completion.stop_reason)
        return _Chain(ids, natural_end, False, certainty)
    return _Chain(ids, None, completion.finish_reason == "stop", certainty)


def _mean_certainty(values: Sequence[float]) -> float | None:
    known = [v for v in values if not math.isnan(v)]
    return sum(known) / len(known) if known else None


@dataclass
class _Pending:
    """One prompt's attempts while their chains finish and answers decode."""

    plans: list[tuple[int, int, tuple, tuple[int, ...], tuple[int, ...], bool, str]]
    outstanding: set[tuple]
    chains: dict[int, _Chain] = field(default_factory=dict)


AnswerSettings = Sequence[tuple[int | None, tuple[str, ...] | None]]


class Strategy:
    """What every strategy offers: `stream` yields each prompt's attempts
    (every sample x budget) when complete; `run` collects them all."""

    name = ""
    # True: prompts are chat messages (strategy=api), not token ids.
    takes_messages = False

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings

    def stream(
        self,
        engine: Engine,
        prompts: Sequence[tuple[int, ...]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
        stats: StrategyStats | None = None,
        answers: AnswerSettings | None = None,
    ) -> Iterator[list[AttemptResult]]:
        raise NotImplementedError

    def run(
        self,
        engine: Engine,
        prompts: Sequence[tuple[int, ...]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
        answers: AnswerSettings | None = None,
    ) -> tuple[list[AttemptResult], StrategyStats]:
        """All attempts at once, in prompt order (for tests and benchmarks)."""
        stats = StrategyStats()
        done: list[AttemptResult] = []
        for results in self.stream(engine, prompts, budgets, samples, seeds, stats, answers):
            done.extend(results)
        done.sort(key=lambda r: (r.prompt_index, r.attempt.sample, r.attempt.budget))
        return done, stats


class SingleChain(Strategy):
    name = "single"

    def stream(
        self,
        engine: Engine,
        prompts: Sequence[tuple[int, ...]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
        stats: StrategyStats | None = None,
        answers: AnswerSettings | None = None,
    ) -> Iterator[list[AttemptResult]]:
        """Yield each prompt's attempts (every sample x budget) as soon as they are complete.
        `answers`: per prompt, its task's answer length and stop strings (None: the model's).

        Every chain goes to the engine at once; the moment a chain ends, its
        answer continuations join the same running batch.
        """
        s = self.settings
        overrides = answers  # (the name `answers` is reused below for decoded answers)
        stats = stats if stats is not None else StrategyStats()
        tokenizer = engine.tokenizer
        largest = max(budgets)
        # Room for a delimiter that starts right at the largest budget to finish.
        slack = max((len(tokenizer.encode(d)) for d in s.thinking_end), default=0)
        forced_ids = tuple(tokenizer.encode(s.forced_answer))
        wait_ids = tuple(tokenizer.encode(s.wait)) if s.max_extensions else ()
        started = time.perf_counter()
        stream = engine.stream(desc="generate")

        def seed_for(i: int, extension: int = 0, sample: int = 0) -> int | None:
            if seeds is None or not engine.supports_request_seed:
                return None
            return (seeds[i] + 7919 * extension + sample) % 2**31

        def answer_settings(i: int) -> tuple[int, tuple[str, ...]]:
            max_tokens, stop = overrides[i] if overrides is not None else (None, None)
            return (
                max_tokens or s.answer_max_tokens,
                stop if stop is not None else s.answer_stop,
            )

        def think(i: int, ids: tuple[int, ...], max_tokens: int, n: int, seed: int | None):
            return GenerationRequest(
                prompt_ids=tuple(prompts[i]) + ids,
                max_tokens=max_tokens,
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k,
                stop=s.thinking_end,
                n=n,
                seed=seed,
                logprobs=s.logprobs,
                affinity=i,
            )

        if largest > 0:
            for i in range(len(prompts)):
                stream.submit(("think", i), think(i, (), largest + slack, samples, seed_for(i)))
            stats.calls.append(f"thinking: {len(prompts)} requests x n={samples}")
        pending = {i: _Pending([], set()) for i in range(len(prompts))}
        partial: dict[tuple[int, int], _Chain] = {}  # chains extended with "Wait", in flight
        answers: dict[tuple, tuple[int, ...]] = {}
        answer_certainty: dict[tuple, tuple[float, ...]] = {}
        engine_counts: dict[tuple, int] = {}

        def chain_segment(i: int, sample: int, completion: Completion) -> None:
            """Join a finished segment to what came before it; extend with "Wait"
            or, once every sample's chain is final, plan and submit the answers."""
            stats.thinking_generated += len(completion.token_ids)
            before = partial.pop((i, sample), _Chain((), None, False))
            segment = _read_chain(tokenizer, completion, s)
            certainty = segment.certainty or (math.nan,) * len(segment.ids)
            end = segment.natural_end
            if (
                end is not None
                and len(before.wait_positions) < s.max_extensions
                and len(before.ids) + end < largest
            ):
                ids = before.ids + segment.ids[:end] + wait_ids
                if len(ids) < largest:
                    partial[(i, sample)] = _Chain(
                        ids,
                        None,
                        False,
                        before.certainty + certainty[:end] + (math.nan,) * len(wait_ids),
                        (*before.wait_positions, len(before.ids) + end),
                    )
                    stats.extension_requests += 1
                    extension = len(before.wait_positions) + 1
                    stream.submit(
                        ("extend", i, sample),
                        think(
                            i, ids, largest + slack - len(ids), 1, seed_for(i, extension, sample)
                        ),
                    )
                    return
            entry = pending[i]
            entry.chains[sample] = _Chain(
                before.ids + segment.ids,
                None if end is None else len(before.ids) + end,
                segment.ended,
                before.certainty + certainty,
                before.wait_positions,
            )
            if len(entry.chains) < samples:
                return
            for sample_index in range(samples):
                chain = entry.chains[sample_index]
                for budget in budgets:
                    key, thinking, prefix, hit, finish = self._plan(
                        chain, i, sample_index, budget, forced_ids
                    )
                    entry.plans.append((sample_index, budget, key, thinking, prefix, hit, finish))
                    if key not in entry.outstanding:
                        entry.outstanding.add(key)
                        stats.answer_requests += 1
                        max_tokens, stop = answer_settings(i)
                        stream.submit(
                            ("answer", key),
                            GenerationRequest(
                                prompt_ids=tuple(prompts[i]) + thinking + prefix,
                                max_tokens=max_tokens,
                                temperature=s.answer_temperature,
                                top_p=s.top_p if s.answer_temperature > 0 else 1.0,
                                top_k=s.top_k if s.answer_temperature > 0 else None,
                                seed=seed_for(i, ANSWER_SEED_OFFSET, sample_index)
                                if s.answer_temperature > 0
                                else None,
                                stop=stop,
                                logprobs=s.logprobs,
                                affinity=i,
                            ),
                        )

        if largest == 0:
            # Budget 0 only (a non-thinking point, or a non-thinking mode): no
            # thinking to generate; every chain is empty and goes to its answer.
            for i in range(len(prompts)):
                for sample in range(samples):
                    chain_segment(i, sample, Completion((), "", "stop"))
        for tag, completions in stream:
            if tag[0] == "think":
                for sample, completion in enumerate(completions):
                    chain_segment(tag[1], sample, completion)
                continue
            if tag[0] == "extend":
                chain_segment(tag[1], tag[2], completions[0])
                continue
            key = tag[1]
            completion = completions[0]
            stats.answer_generated += len(completion.token_ids)
            answer_ids = _strip_eos(completion.token_ids, tokenizer.eos_token_id)
            answers[key] = answer_ids
            answer_certainty[key] = tuple(completion.token_certainty or ())[: len(answer_ids)]
            if completion.prompt_tokens is not None:
                engine_counts[key] = completion.prompt_tokens + len(answer_ids)
            entry = pending[key[1]]
            entry.outstanding.discard(key)
            if not entry.outstanding:
                elapsed = time.perf_counter() - started
                per_token = elapsed / max(stats.thinking_generated + stats.answer_generated, 1)
                yield self._attempts(
                    key[1],
                    pending.pop(key[1]),
                    answers,
                    answer_certainty,
                    engine_counts,
                    tokenizer,
                    per_token,
                )
        stats.seconds = time.perf_counter() - started
        stats.calls.append(f"answers: {stats.answer_requests} requests")
        if stats.extension_requests:
            stats.calls.append(f"wait extensions: {stats.extension_requests} requests")

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
            finish = "no_delimiter" if chain.ids else "no_thinking"
            return ("ended", i, sample), chain.ids, forced_ids, False, finish
        return ("cut", i, sample, budget), chain.ids[:budget], forced_ids, True, "cut"

    @staticmethod
    def _attempts(
        i, entry, answers, answer_certainty, engine_counts, tokenizer, per_token
    ) -> list[AttemptResult]:
        results = []
        for sample, budget, key, thinking, prefix, hit, finish in entry.plans:
            answer_ids = answers[key]
            natural_prefix = len(prefix) if finish == "natural" else 0
            chain = entry.chains[sample]
            generated = chain.certainty[: len(thinking) + natural_prefix] + answer_certainty[key]
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
                extensions=sum(1 for p in chain.wait_positions if p < len(thinking)),
                certainty=_mean_certainty(generated),
            )
            seconds = (len(thinking) + natural_prefix + len(answer_ids)) * per_token
            results.append(AttemptResult(i, attempt, seconds))
        for _, _, key, *_ in entry.plans:
            answers.pop(key, None)
            answer_certainty.pop(key, None)
            engine_counts.pop(key, None)
        return results
