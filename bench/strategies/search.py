"""Search over reasoning steps, guided by a process reward model: the engine
loop that `beam` and `dvts` share (beam.py and dvts.py are their plugins).

Snell et al. 2024 ("Scaling LLM Test-Time Compute Optimally...") and
huggingface/search-and-learn: generate one step at a time, score every new
partial chain with a PRM, keep the best and expand them.

- beam: N paths per problem (strategy.n). Every iteration each kept path is
  expanded M ways (strategy.beam_width), the N new partial chains are scored,
  and the best N/M that are still thinking are kept.
- dvts (diverse verifier tree search, Beeching et al. 2024): N/M independent
  subtrees per problem, each keeping the best of its M candidates per step.

One iteration sends every active path of every problem and budget to the
engine as one batch, stopping at the model's step delimiter (kept in the
text: the engine's prefix cache shares what the paths have in common), or
at its end of thinking; then one verifier batch scores every new partial
chain (its steps so far, no answer). A path that ends its thinking leaves
the pool as finished; the search stops when none is active, when beam has N
finished paths, or at strategy.max_iterations (the active ones are cut
there). A path that reaches the thinking budget is cut and its answer
forced, exactly as `single` cuts: each budget is a search of its own, so
budgets keep their meaning and N is a second dial.

Every token counts (search-and-learn records 0 or -1 for these): the
attempts of one problem at one budget share everything its search
generated, pruned branches included (`search_tokens`), and everything the
verifier read while searching (`search_verifier_tokens`) with its engine
seconds. The finished paths are scored once more with their answers in the
sweep's verification phase, which gives bon (the best-scored path, the
search's answer) and wbon (the verifier-weighted vote).

search_plugin.py holds what beam and dvts share as plugins (settings, checks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from bench.engines.base import Engine
from bench.strategies.base import (
    AttemptResult,
    ChainSettings,
    Strategy,
    StrategyStats,
    strip_eos,
    thinking_length,
)
from bench.strategies.job import ANSWER_STEP, Gather, Job
from bench.strategies.verifiers import aggregate_steps
from bench.types import Attempt, Completion, GenerationRequest

MODES = ("beam", "dvts")


@dataclass(frozen=True)
class SearchSettings:
    mode: str  # beam | dvts
    n: int  # paths per problem (N)
    width: int  # expansions per kept path (M)
    max_iterations: int
    step_max_tokens: int
    delimiter: str  # the policy's step delimiter
    aggregate: str  # how a partial chain's step scores become one


@dataclass
class _Path:
    ids: tuple[int, ...]  # thinking so far, step delimiters kept
    group: int = 0  # dvts: its subtree
    score: float = math.nan
    # active | natural | no_delimiter | cut (at the budget) | capped (max_iterations)
    state: str = "active"
    end_ids: tuple[int, ...] = ()  # the end of thinking the model wrote (natural)


@dataclass
class _Search:
    """One problem's search under one thinking budget."""

    prompt_index: int
    budget: int
    active: list[_Path] = field(default_factory=list)
    finished: list[_Path] = field(default_factory=list)
    started: bool = False
    iterations: int = 0
    generated: int = 0  # policy tokens, every branch and every answer
    verifier_tokens: int = 0
    verifier_seconds: float = 0.0
    answers: dict[int, tuple[int, ...]] = field(default_factory=dict)
    engine_tokens: dict[int, int] = field(default_factory=dict)
    submitted: bool = False  # its answers were asked for

    @property
    def done(self) -> bool:
        return self.started and not self.active


class StepSearch(Strategy):
    """beam or dvts on an engine and a reward engine (`attach` gives it the
    verifier before `stream`; it reads each problem's question from the job)."""

    def __init__(self, settings: ChainSettings, search: SearchSettings) -> None:
        super().__init__(settings)
        if search.mode not in MODES:
            raise ValueError(f"search mode {search.mode!r}; one of {', '.join(MODES)}")
        self.name = search.mode
        self.search = search
        self.verifier: Any = None

    def attach(self, verifier: Any) -> None:
        """The reward engine that scores partial chains."""
        self.verifier = verifier

    def stream(
        self, engine: Engine, job: Job, stats: StrategyStats | None = None
    ) -> Iterator[list[AttemptResult]]:
        if self.verifier is None:
            raise RuntimeError("a search needs its verifier (attach) first")
        yield from _SearchRun(self, engine, job, stats or StrategyStats()).results()


class _SearchRun:
    """One `StepSearch.stream` call: every (problem, budget) search, stepped together."""

    def __init__(self, strategy: StepSearch, engine: Engine, job: Job, stats: StrategyStats):
        self.settings: ChainSettings = strategy.settings
        self.search: SearchSettings = strategy.search
        self.verifier = strategy.verifier
        self.engine, self.problems, self.stats = engine, job.problems, stats
        self.tokenizer = engine.tokenizer
        self.forced_ids = tuple(self.tokenizer.encode(self.settings.forced_answer))
        # Room for an end of thinking that starts right at the budget (as single).
        self.slack = max(
            (len(self.tokenizer.encode(d)) for d in self.settings.thinking_end), default=0
        )
        self.searches = {
            (problem.index, b): _Search(problem.index, b)
            for problem in job.problems
            for b in sorted(job.budgets)
        }
        # A problem is done once every budget's search has its answers.
        self.gather = Gather()
        for problem in job.problems:
            self.gather.expect(problem.index, job.budgets)
        self.started = time.perf_counter()
        self.policy_seconds = 0.0

    # -- the loop -----------------------------------------------------------

    def results(self) -> Iterator[list[AttemptResult]]:
        """Step every search together; yield a problem's attempts (every
        budget) once all its searches are finished and answered."""
        iteration = 0
        while True:
            expanding = [s for s in self.searches.values() if not s.done]
            answering = [s for s in self.searches.values() if s.done and not s.submitted]
            if not expanding and not answering:
                break
            candidates = self._step(expanding, answering, iteration)
            self._score(candidates)
            new: dict[int, list[_Path]] = {id(search): [] for search in expanding}
            for owner, path in candidates:
                new[id(owner)].append(path)
            for search in expanding:
                self._select(search, new[id(search)])
            iteration += 1
            for search in answering:  # asked for its answers this iteration: all back now
                if self.gather.arrive(search.prompt_index, search.budget) is not None:
                    yield self._attempts(search.prompt_index)
        self.stats.calls.append(
            f"search ({self.search.mode}): {iteration} engine batches, "
            f"{self.stats.answer_requests} answers"
        )
        self.stats.seconds = time.perf_counter() - self.started

    def _step(self, expanding, answering, iteration) -> list[tuple[_Search, _Path]]:
        """One engine batch: the next step of every active path, and the
        answers of every search that finished; returns the new partial chains."""
        s, search_cfg = self.settings, self.search
        stream = self.engine.stream(desc=f"search step {iteration + 1}")
        stop = (search_cfg.delimiter, *s.thinking_end)
        for search in expanding:
            search.iterations += 1
            parents = self._parents(search)
            for index, (parent, n) in enumerate(parents):
                room = search.budget + self.slack - len(parent.ids)
                request = GenerationRequest(
                    prompt_ids=self.problems[search.prompt_index].prompt + parent.ids,
                    max_tokens=max(1, min(search_cfg.step_max_tokens, room)),
                    temperature=s.temperature,
                    top_p=s.top_p,
                    top_k=s.top_k,
                    stop=stop,
                    n=n,
                    seed=self.problems[search.prompt_index].request_seed(
                        self.engine, step=iteration, path=index, budget=search.budget
                    ),
                    affinity=search.prompt_index,
                )
                stream.submit(("step", search.prompt_index, search.budget, index), request)
            search.started = True
            search.active = [parent for parent, _ in parents]
        for search in answering:
            self._submit_answers(stream, search)
        candidates: list[tuple[_Search, _Path]] = []
        began = time.perf_counter()
        for tag, completions in stream:
            search = self.searches[(tag[1], tag[2])]
            if tag[0] == "answer":
                self._answered(search, tag[3], completions[0])
                continue
            parent = search.active[tag[3]]
            for j, completion in enumerate(completions):
                # The first step's N samples form dvts's N/M subtrees, M each.
                group = parent.group if search.iterations > 1 else j // search_cfg.width
                candidates.append((search, self._extend(search, parent, completion, group)))
        self.policy_seconds += time.perf_counter() - began
        return candidates

    def _parents(self, search: _Search) -> list[tuple[_Path, int]]:
        """Which paths this iteration expands, and how many ways each."""
        search_cfg = self.search
        if not search.started:  # N first steps from the prompt
            return [(_Path(()), search_cfg.n)]
        return [(path, search_cfg.width) for path in search.active]

    def _extend(self, search: _Search, parent: _Path, completion: Completion, group: int) -> _Path:
        """The parent with the completion's step: still thinking, or finished."""
        s = self.settings
        ids = strip_eos(completion.token_ids, self.tokenizer.eos_token_id)
        search.generated += len(completion.token_ids)
        self.stats.thinking_generated += len(completion.token_ids)
        stop = completion.stop_reason
        if isinstance(stop, str) and stop in s.thinking_end:
            end = len(parent.ids) + thinking_length(self.tokenizer, ids, stop)
            whole = parent.ids + ids
            if end <= search.budget:
                return _Path(whole[:end], group, state="natural", end_ids=whole[end:])
            return _Path(whole[: search.budget], group, state="cut")
        whole = parent.ids + ids
        if len(whole) >= search.budget:
            return _Path(whole[: search.budget], group, state="cut")
        if completion.finish_reason == "stop" and stop is None:
            return _Path(whole, group, state="no_delimiter")  # the model stopped (EOS)
        return _Path(whole, group)

    def _score(self, candidates: list[tuple[_Search, _Path]]) -> None:
        """Every new partial chain in one verifier batch (steps only, no answer)."""
        if not candidates:
            return
        verifier, decode = self.verifier, self.tokenizer.decode
        inputs = [
            verifier.inputs(
                self.problems[search.prompt_index].question,
                decode(path.ids),
                None,
                self.search.delimiter,
            )
            for search, path in candidates
        ]
        before = verifier.busy_seconds
        scored = verifier.score(inputs)
        seconds = verifier.busy_seconds - before
        total = sum(r.tokens for r in scored) or 1
        for (search, path), result in zip(candidates, scored, strict=True):
            path.score = (
                aggregate_steps(result.step_scores, self.search.aggregate)
                if result.step_scores
                else 0.0  # nothing to score yet (an empty chain)
            )
            search.verifier_tokens += result.tokens
            search.verifier_seconds += seconds * result.tokens / total

    def _select(self, search: _Search, paths: list[_Path]) -> None:
        """Keep the best of a search's new partial chains; finished ones leave the pool."""
        search_cfg = self.search
        if search_cfg.mode == "beam":
            search.finished += [p for p in paths if p.state != "active"]
            active = sorted((p for p in paths if p.state == "active"), key=_by_score)
            keep = max(1, search_cfg.n // search_cfg.width)
            search.active = active[:keep]
            if len(search.finished) >= search_cfg.n:
                search.active = []
        else:  # dvts: each subtree keeps its best candidate; finished, it is done
            kept = []
            for group in sorted({p.group for p in paths}):
                best = sorted((p for p in paths if p.group == group), key=_by_score)[0]
                (kept if best.state == "active" else search.finished).append(best)
            search.active = kept
        if search.active and search.iterations >= search_cfg.max_iterations:
            # The iteration cap: stop what is still thinking, force its answer.
            search.finished += [replace(p, state="capped") for p in search.active]
            search.active = []

    # -- answers and attempts -----------------------------------------------

    def _final_paths(self, search: _Search) -> list[_Path]:
        """The paths whose attempts are recorded: beam's best N finished, or
        each dvts subtree's one path."""
        return sorted(search.finished, key=_by_score)[: self.search.n]

    def _submit_answers(self, stream: Any, search: _Search) -> None:
        s = self.settings
        i = search.prompt_index
        problem = self.problems[i]
        max_tokens, stop = problem.answer_settings(s.answer_max_tokens, s.answer_stop)
        search.finished = self._final_paths(search)
        search.submitted = True
        for index, path in enumerate(search.finished):
            prefix = path.end_ids if path.state == "natural" else self.forced_ids
            self.stats.answer_requests += 1
            request = GenerationRequest(
                prompt_ids=problem.prompt + path.ids + prefix,
                max_tokens=max_tokens,
                temperature=s.answer_temperature,
                stop=stop,
                seed=problem.request_seed(
                    self.engine, step=ANSWER_STEP, path=index, budget=search.budget
                )
                if s.answer_temperature > 0
                else None,
                affinity=i,
            )
            stream.submit(("answer", i, search.budget, index), request)

    def _answered(self, search: _Search, index: int, completion: Completion) -> None:
        ids = strip_eos(completion.token_ids, self.tokenizer.eos_token_id)
        search.answers[index] = ids
        search.generated += len(completion.token_ids)
        self.stats.answer_generated += len(completion.token_ids)
        if completion.prompt_tokens is not None:
            search.engine_tokens[index] = completion.prompt_tokens + len(ids)

    def _attempts(self, i: int) -> list[AttemptResult]:
        """Every budget's recorded paths of problem i, the search's cost shared among them."""
        out: list[AttemptResult] = []
        generated_total = self.stats.thinking_generated + self.stats.answer_generated
        per_token = self.policy_seconds / max(generated_total, 1)
        for (index, budget), search in sorted(self.searches.items()):
            if index != i:
                continue
            paths = search.finished
            shares = _shares(search.generated, len(paths))
            verifier_shares = _shares(search.verifier_tokens, len(paths))
            for sample, path in enumerate(paths):
                prefix = path.end_ids if path.state == "natural" else self.forced_ids
                answer_ids = search.answers.get(sample, ())
                attempt = Attempt(
                    budget=budget,
                    sample=sample,
                    thinking_ids=path.ids,
                    thinking_text=self.tokenizer.decode(path.ids),
                    answer_prefix_ids=prefix,
                    answer_ids=answer_ids,
                    answer_text=self.tokenizer.decode(prefix + answer_ids),
                    hit_budget=path.state == "cut",
                    finish=path.state,
                    engine_tokens=search.engine_tokens.get(sample),
                    search_tokens=shares[sample],
                    search_verifier_tokens=verifier_shares[sample],
                    search_verifier_seconds=search.verifier_seconds / max(len(paths), 1),
                    search_score=path.score,
                )
                out.append(AttemptResult(i, attempt, shares[sample] * per_token))
        return out


def _by_score(path: _Path) -> float:
    """Sort key: best score first (a missing score last)."""
    return -path.score if not math.isnan(path.score) else math.inf


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` whole shares that add up to it."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]
