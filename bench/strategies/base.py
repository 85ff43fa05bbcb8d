"""What every strategy shares: the settings it reads from the model config,
the attempts it yields, the engine work it counts, and the `Strategy`
interface the runner streams from (plugin.py says how each is chosen)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.engines.base import Engine, Tokenizer
from bench.strategies.job import Job
from bench.types import Attempt


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
    # beam / dvts: the search's own settings (strategies/search.SearchSettings).
    search: Any = None


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


def strip_eos(ids: Sequence[int], eos: int | None) -> tuple[int, ...]:
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


class Strategy:
    """What every strategy offers: `stream` yields each problem's attempts
    (every sample x budget) when complete; `run` collects them all."""

    name = ""

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings

    def stream(
        self, engine: Engine, job: Job, stats: StrategyStats | None = None
    ) -> Iterator[list[AttemptResult]]:
        raise NotImplementedError

    def run(self, engine: Engine, job: Job) -> tuple[list[AttemptResult], StrategyStats]:
        """All attempts at once, in problem order (for tests and benchmarks)."""
        stats = StrategyStats()
        done: list[AttemptResult] = []
        for results in self.stream(engine, job, stats):
            done.extend(results)
        done.sort(key=lambda r: (r.prompt_index, r.attempt.sample, r.attempt.budget))
        return done, stats
