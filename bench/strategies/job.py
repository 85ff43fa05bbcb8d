"""What a strategy is asked to do, as one object: the problems (each with its
prompt, seed, answer settings and question), the budgets and the samples.

Every strategy reads the same `Job` (`Strategy.stream(engine, job, stats)`),
draws every request seed from one formula (`ProblemRequest.request_seed`) and
hands back each problem's attempts through one `Gather`, so the parts that
were written once per strategy (parallel lists matched by index, a seed
formula each, a waiting/ready count each) live here once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Request seeds stay in vLLM's and the servers' range.
SEED_RANGE = 2**31
# The seed formula's terms: a step (a "Wait" extension, a search iteration)
# and a path (a search's parent) move the seed far apart; a sample and a
# budget move it by one each.
STEP_STRIDE = 7919
PATH_STRIDE = 104723
# Answers are seeded as a step of their own, apart from every thinking step.
ANSWER_STEP = 104729


@dataclass(frozen=True)
class ProblemRequest:
    """One problem as a strategy gets it."""

    index: int  # its place in the job (AttemptResult.prompt_index)
    # Token ids, or chat messages for a strategy that takes messages (api).
    prompt: tuple[Any, ...]
    # The problem's own seed (from the run's seed and the problem id); None:
    # every request leaves the seed to the engine.
    seed: int | None = None
    # The task's answer length and stop strings; None: the model's.
    answer_tokens: int | None = None
    answer_stop: tuple[str, ...] | None = None
    # What a verifier reads as the question (search scores partial chains).
    question: str = ""

    def request_seed(
        self, engine: Any, *, step: int = 0, sample: int = 0, path: int = 0, budget: int = 0
    ) -> int | None:
        """The seed of one request, or None where there is no problem seed or
        the engine takes none (`engine.supports_request_seed`)."""
        if self.seed is None or not engine.supports_request_seed:
            return None
        return (self.seed + STEP_STRIDE * step + sample + PATH_STRIDE * path + budget) % SEED_RANGE

    def answer_settings(
        self, max_tokens: int, stop: tuple[str, ...]
    ) -> tuple[int, tuple[str, ...]]:
        """The answer's length and stop strings: the task's, else the given model's."""
        return (
            self.answer_tokens or max_tokens,
            self.answer_stop if self.answer_stop is not None else stop,
        )


@dataclass(frozen=True)
class Job:
    """Every problem of one stream, under every budget, `samples` times each."""

    problems: tuple[ProblemRequest, ...]
    budgets: tuple[int, ...]
    samples: int = 1

    def __post_init__(self) -> None:
        if not self.budgets:
            raise ValueError("a job needs at least one budget")
        if len(set(self.budgets)) != len(self.budgets):
            raise ValueError(f"a job lists each budget once, not {list(self.budgets)}")
        if self.samples < 1:
            raise ValueError(f"a job needs samples >= 1, not {self.samples}")
        for position, problem in enumerate(self.problems):
            if problem.index != position:
                raise ValueError(
                    f"problem {position} of the job says it is problem {problem.index}"
                )

    @classmethod
    def of(
        cls,
        prompts: Sequence[Sequence[Any]],
        budgets: Sequence[int],
        samples: int = 1,
        seeds: Sequence[int] | None = None,
        questions: Sequence[str] | None = None,
    ) -> Job:
        """A job from bare prompts (benchmarks and tests): model answer settings."""
        problems = tuple(
            ProblemRequest(
                index=i,
                prompt=tuple(prompt),
                seed=None if seeds is None else seeds[i],
                question="" if questions is None else questions[i],
            )
            for i, prompt in enumerate(prompts)
        )
        return cls(problems, tuple(budgets), samples)

    @property
    def largest(self) -> int:
        return max(self.budgets)

    def __len__(self) -> int:
        return len(self.problems)


class Gather:
    """Each problem's results until the last one it waits for arrives: a
    strategy says what a problem waits for (`expect`), hands in what comes
    back (`arrive`), and gets the problem's whole list once nothing is left."""

    def __init__(self) -> None:
        self._waiting: dict[int, set[Hashable]] = {}
        self._ready: dict[int, list[Any]] = {}

    def expect(self, index: int, keys: Iterable[Hashable]) -> None:
        """Problem `index` also waits for `keys` (each arrives once)."""
        self._waiting.setdefault(index, set()).update(keys)
        self._ready.setdefault(index, [])

    def waits_for(self, index: int, key: Hashable) -> bool:
        return key in self._waiting.get(index, ())

    def arrive(self, index: int, key: Hashable, results: Iterable[Any] = ()) -> list[Any] | None:
        """Hand in `key`'s results; the problem's whole list once it waits for
        nothing more (then it is forgotten), else None."""
        waiting = self._waiting.get(index)
        if waiting is None or key not in waiting:
            raise KeyError(f"problem {index} does not wait for {key!r}")
        waiting.discard(key)
        self._ready[index].extend(results)
        if waiting:
            return None
        del self._waiting[index]
        return self._ready.pop(index)

    def __len__(self) -> int:
        """Problems still waiting."""
        return len(self._waiting)
