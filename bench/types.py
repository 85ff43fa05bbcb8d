"""The data that flows through a sweep, as frozen dataclasses.

problem -> generation request -> completion -> attempt (one budget's cut and
answer) -> grade -> record (one flat row). Token counts always come from the
token ids an engine returned, never from re-tokenizing text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    task: str
    problem_id: str
    question: str
    gold: str
    difficulty: str = ""
    subject: str = ""  # a second slicing field (MATH's subject)
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class GenerationRequest:
    """One call's worth of decoding from a token-id prompt."""

    prompt_ids: tuple[int, ...]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None  # None: the engine's default (all tokens)
    stop: tuple[str, ...] = ()
    n: int = 1
    # Only engines that support per-request seeds honour this; the vLLM CPU
    # build crashes on them, so it is seeded at engine level instead.
    seed: int | None = None
    # Top log-probabilities to return per generated token (for self-certainty).
    logprobs: int | None = None
    # vLLM's native thinking budget (SamplingParams.thinking_token_budget).
    thinking_token_budget: int | None = None
    # Requests with the same affinity go to the same server replica, so one
    # problem's budgets share that replica's prefix cache (engine=openai).
    affinity: int | None = None
    # Chat APIs (engine.api=chat): the conversation instead of token ids, and
    # the hosted model's own budget knob.
    messages: tuple[tuple[str, str], ...] = ()  # (role, content)
    reasoning_effort: str | None = None


@dataclass(frozen=True)
class Completion:
    """What an engine produced for one sample of one request."""

    token_ids: tuple[int, ...]
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length"
    stop_reason: str | int | None = None  # the stop string that matched, if any
    prompt_tokens: int | None = None  # prompt length as the engine counted it
    # Of those, the tokens the engine's prefix cache served (vLLM's
    # num_cached_tokens; None where an engine does not say).
    cached_tokens: int | None = None
    # Per generated token: how peaked the model's next-token distribution was
    # (self-certainty over the top log-probabilities; see strategies/verifiers.py).
    token_certainty: tuple[float, ...] | None = None
    # Chat APIs: the reasoning text the server split off, and its usage counts.
    reasoning_text: str | None = None
    reasoning_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Attempt:
    """One sample answered under one thinking budget."""

    budget: int
    sample: int
    thinking_ids: tuple[int, ...]
    thinking_text: str
    answer_prefix_ids: tuple[int, ...]  # delimiter (+ cue) between thinking and answer
    answer_ids: tuple[int, ...]
    answer_text: str  # delimiter/cue text + the decoded answer
    hit_budget: bool  # True when the thinking was cut at the budget
    # "natural" | "cut" | "no_delimiter" | "no_thinking" (a budget-0-only sweep)
    # | "capped" (a search stopped at its iteration cap, strategies/search.py)
    finish: str
    # The engine's own count for the answer request: its prompt (our prompt +
    # thinking + delimiter/cue) plus the answer it decoded. Must equal
    # prompt + thinking + answer tokens; the adherence check compares them.
    engine_tokens: int | None = None
    extensions: int = 0  # "Wait" extensions inside the kept thinking (strategy=wait)
    # Generated after the answer's stop and not graded (strategy=native decodes
    # thinking and answer in one request, so it cannot stop at the answer's end).
    discarded_tokens: int = 0
    # Mean self-certainty over the tokens the model generated for this attempt.
    certainty: float | None = None
    # Chat APIs return text and usage, not token ids: counts from usage.
    counted_prompt: int | None = None
    counted_thinking: int | None = None
    counted_answer: int | None = None
    # A search (strategies/search.py): this attempt's share of every token the
    # search generated (pruned branches and answers included) and of the
    # tokens and engine seconds its verifier read while searching; the PRM's
    # score of the path when the search kept it. 0 / None for other strategies.
    search_tokens: int = 0
    search_verifier_tokens: int = 0
    search_verifier_seconds: float = 0.0
    search_score: float | None = None

    @property
    def thinking_tokens(self) -> int:
        if self.counted_thinking is not None:
            return self.counted_thinking
        return len(self.thinking_ids)

    @property
    def answer_tokens(self) -> int:
        if self.counted_answer is not None:
            return self.counted_answer
        return len(self.answer_prefix_ids) + len(self.answer_ids)


@dataclass(frozen=True)
class Grade:
    correct: bool
    extracted: str | None
