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
from typing import NamedTuple

from bench.engines.base import Engine, Tokenizer
from bench.strategies.base import (
    AttemptResult,
    ChainSettings,
    Strategy,
    StrategyStats,
    strip_eos,
    thinking_length,
)
from bench.strategies.job import ANSWER_STEP, Gather, Job
from bench.types import Attempt, Completion, GenerationRequest


@dataclass(frozen=True)
class _Chain:
    ids: tuple[int, ...]
    natural_end: int | None  # thinking tokens before a delimiter the model wrote itself
    ended: bool  # the model stopped (EOS) without writing a delimiter
    # Per token of `ids`: self-certainty, NaN where we inserted the token ("Wait").
    certainty: tuple[float, ...] = ()
    wait_positions: tuple[int, ...] = ()  # where each "Wait" was inserted


def _read_chain(tokenizer: Tokenizer, completion: Completion, settings: ChainSettings) -> _Chain:
    ids = strip_eos(completion.token_ids, tokenizer.eos_token_id)
    certainty = tuple(completion.token_certainty or ())[: len(ids)]
    if isinstance(completion.stop_reason, str) and completion.stop_reason in settings.thinking_end:
        natural_end = thinking_length(tokenizer, ids, completion.stop_reason)
        return _Chain(ids, natural_end, False, certainty)
    return _Chain(ids, None, completion.finish_reason == "stop", certainty)


def _mean_certainty(values: Sequence[float]) -> float | None:
    known = [v for v in values if not math.isnan(v)]
    return sum(known) / len(known) if known else None


class _Planned(NamedTuple):
    """One attempt (sample x budget) before its answer is back."""

    sample: int
    budget: int
    # Its answer's key: ("natural" | "ended", i, sample) or ("cut", i, sample,
    # budget); attempts whose kept thinking and cue agree share one answer.
    key: tuple
    thinking: tuple[int, ...]  # the thinking it keeps
    prefix: tuple[int, ...]  # what cues its answer: the model's own delimiter, or ours
    hit: bool  # cut at the budget
    finish: str


@dataclass
class _Pending:
    """One prompt's attempts while their chains finish and answers decode."""

    plans: list[_Planned]
    chains: dict[int, _Chain] = field(default_factory=dict)


class SingleChain(Strategy):
    name = "single"

    def stream(
        self, engine: Engine, job: Job, stats: StrategyStats | None = None
    ) -> Iterator[list[AttemptResult]]:
        """Yield each problem's attempts (every sample x budget) as soon as they are complete.

        Every chain goes to the engine at once; the moment a chain ends, its
        answer continuations join the same running batch.
        """
        stats = stats if stats is not None else StrategyStats()
        yield from _ChainRun(self, engine, job, stats).results()

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
        for plan in entry.plans:
            key = plan.key
            answers.pop(key, None)
            answer_certainty.pop(key, None)
            engine_counts.pop(key, None)
        return results


class _ChainRun:
    """One `SingleChain.stream` call: every chain in flight, the "Wait"
    extensions, and the answers each prompt still waits for."""

    def __init__(self, strategy: SingleChain, engine: Engine, job: Job, stats: StrategyStats):
        s = self.settings = strategy.settings
        self.strategy, self.engine, self.stats = strategy, engine, stats
        self.problems, self.budgets, self.samples = job.problems, job.budgets, job.samples
        tokenizer = self.tokenizer = engine.tokenizer
        self.largest = job.largest
        # Room for a delimiter that starts right at the largest budget to finish.
        self.slack = max((len(tokenizer.encode(d)) for d in s.thinking_end), default=0)
        self.forced_ids = tuple(tokenizer.encode(s.forced_answer))
        self.wait_ids = tuple(tokenizer.encode(s.wait)) if s.max_extensions else ()
        self.started = time.perf_counter()
        self.stream = engine.stream(desc="generate")
        self.pending = {problem.index: _Pending([]) for problem in job.problems}
        self.gather = Gather()  # each prompt's answer keys still out
        self.partial: dict[tuple[int, int], _Chain] = {}  # chains extended with "Wait", in flight
        self.answers: dict[tuple, tuple[int, ...]] = {}
        self.answer_certainty: dict[tuple, tuple[float, ...]] = {}
        self.engine_counts: dict[tuple, int] = {}

    def think(
        self, i: int, ids: tuple[int, ...], max_tokens: int, n: int, seed: int | None
    ) -> GenerationRequest:
        s = self.settings
        return GenerationRequest(
            prompt_ids=self.problems[i].prompt + ids,
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

    def results(self) -> Iterator[list[AttemptResult]]:
        stats, problems = self.stats, self.problems
        if self.largest > 0:
            for problem in problems:
                seed = problem.request_seed(self.engine)
                request = self.think(
                    problem.index, (), self.largest + self.slack, self.samples, seed
                )
                self.stream.submit(("think", problem.index), request)
            stats.calls.append(f"thinking: {len(problems)} requests x n={self.samples}")
        else:
            # Budget 0 only (a non-thinking point, or a non-thinking mode): no
            # thinking to generate; every chain is empty and goes to its answer.
            for i in range(len(problems)):
                for sample in range(self.samples):
                    self.chain_segment(i, sample, Completion((), "", "stop"))
        for tag, completions in self.stream:
            if tag[0] == "think":
                for sample, completion in enumerate(completions):
                    self.chain_segment(tag[1], sample, completion)
            elif tag[0] == "extend":
                self.chain_segment(tag[1], tag[2], completions[0])
            else:
                done = self.answered(tag[1], completions[0])
                if done is not None:
                    yield done
        stats.seconds = time.perf_counter() - self.started
        stats.calls.append(f"answers: {stats.answer_requests} requests")
        if stats.extension_requests:
            stats.calls.append(f"wait extensions: {stats.extension_requests} requests")

    def chain_segment(self, i: int, sample: int, completion: Completion) -> None:
        """Join a finished segment to what came before it; extend with "Wait"
        or, once every sample's chain is final, plan and submit the answers."""
        s, largest = self.settings, self.largest
        self.stats.thinking_generated += len(completion.token_ids)
        before = self.partial.pop((i, sample), _Chain((), None, False))
        segment = _read_chain(self.tokenizer, completion, s)
        certainty = segment.certainty or (math.nan,) * len(segment.ids)
        end = segment.natural_end
        if (
            end is not None
            and len(before.wait_positions) < s.max_extensions
            and len(before.ids) + end < largest
        ):
            ids = before.ids + segment.ids[:end] + self.wait_ids
            if len(ids) < largest:
                self.partial[(i, sample)] = _Chain(
                    ids,
                    None,
                    False,
                    before.certainty + certainty[:end] + (math.nan,) * len(self.wait_ids),
                    (*before.wait_positions, len(before.ids) + end),
                )
                self.stats.extension_requests += 1
                extension = len(before.wait_positions) + 1
                seed = self.problems[i].request_seed(self.engine, step=extension, sample=sample)
                request = self.think(i, ids, largest + self.slack - len(ids), 1, seed)
                self.stream.submit(("extend", i, sample), request)
                return
        entry = self.pending[i]
        entry.chains[sample] = _Chain(
            before.ids + segment.ids,
            None if end is None else len(before.ids) + end,
            segment.ended,
            before.certainty + certainty,
            before.wait_positions,
        )
        if len(entry.chains) == self.samples:
            self.submit_answers(i, entry)

    def submit_answers(self, i: int, entry: _Pending) -> None:
        """Every sample x budget of prompt i: plan its cut, ask for each distinct answer once."""
        s, problem = self.settings, self.problems[i]
        max_tokens, stop = problem.answer_settings(s.answer_max_tokens, s.answer_stop)
        sampled = s.answer_temperature > 0
        asked: dict[tuple, tuple[int, tuple[int, ...]]] = {}  # each distinct answer once
        for sample_index in range(self.samples):
            chain = entry.chains[sample_index]
            for budget in self.budgets:
                key, thinking, prefix, hit, finish = SingleChain._plan(
                    chain, i, sample_index, budget, self.forced_ids
                )
                entry.plans.append(
                    _Planned(sample_index, budget, key, thinking, prefix, hit, finish)
                )
                asked.setdefault(key, (sample_index, thinking + prefix))
        self.gather.expect(i, asked)
        for key, (sample_index, cue) in asked.items():
            self.stats.answer_requests += 1
            request = GenerationRequest(
                prompt_ids=problem.prompt + cue,
                max_tokens=max_tokens,
                temperature=s.answer_temperature,
                top_p=s.top_p if sampled else 1.0,
                top_k=s.top_k if sampled else None,
                seed=problem.request_seed(self.engine, step=ANSWER_STEP, sample=sample_index)
                if sampled
                else None,
                stop=stop,
                logprobs=s.logprobs,
                affinity=i,
            )
            self.stream.submit(("answer", key), request)

    def answered(self, key: tuple, completion: Completion) -> list[AttemptResult] | None:
        """Keep one answer; a prompt's attempts once its last answer is back."""
        stats = self.stats
        stats.answer_generated += len(completion.token_ids)
        answer_ids = strip_eos(completion.token_ids, self.tokenizer.eos_token_id)
        self.answers[key] = answer_ids
        self.answer_certainty[key] = tuple(completion.token_certainty or ())[: len(answer_ids)]
        if completion.prompt_tokens is not None:
            self.engine_counts[key] = completion.prompt_tokens + len(answer_ids)
        if self.gather.arrive(key[1], key) is None:
            return None  # the prompt waits for more of its answers
        elapsed = time.perf_counter() - self.started
        per_token = elapsed / max(stats.thinking_generated + stats.answer_generated, 1)
        return SingleChain._attempts(
            key[1],
            self.pending.pop(key[1]),
            self.answers,
            self.answer_certainty,
            self.engine_counts,
            self.tokenizer,
            per_token,
        )
