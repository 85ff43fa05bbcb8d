"""The record: one attempt at one problem (sample x budget x seed), as the
sweep stores it and every table reads it.

A record's key hashes everything that determines it, so a resume skips
exactly what is stored; `build_row` is the one place a generation row is
made (the sweep and `bench perf` both use it). The columns and their types,
which the store checks on every row it writes: run/columns.py (grades join
generations on `key`).
"""

from __future__ import annotations

from typing import Any

from bench.run.columns import GENERATION, GRADE  # noqa: F401 (the record's columns)
from bench.run.store import record_key


class RecordKeys:
    """key_of(prompted, sample, budget, repeat) for one run's settings."""

    def __init__(self, base: dict[str, Any], seed: int) -> None:
        self.base = base  # model, revision, engine, chain and strategy settings
        self.seed = seed

    def __call__(self, p: Any, sample: int, budget: int, repeat: int = 0) -> str:
        # The problem's id too: two problems with the same prompt are still two records.
        # A repeat is the same configuration under the next seed.
        return record_key(
            self.base
            | {"seed": self.seed + repeat}
            | {"task": p.problem.task, "problem": p.problem.problem_id, "gold": p.problem.gold}
            # A chat API's prompt is its messages (it tokenizes them itself).
            | {"prompt": p.prompt_ids or p.messages, "sample": sample, "budget": budget}
        )


def build_row(
    key: str,
    p: Any,
    result: Any,
    model: str,
    strategy: str,
    token_source: str,
    repeat: int = 0,
) -> dict[str, Any]:
    """The generation row of one attempt (`result`: a strategy's AttemptResult
    for prompted problem `p`)."""
    attempt = result.attempt
    prompt_tokens = attempt.counted_prompt
    return {
        "key": key,
        "model": model,
        "task": p.problem.task,
        "problem_id": p.problem.problem_id,
        "difficulty": p.problem.difficulty,
        "subject": p.problem.subject,
        "strategy": strategy,
        "budget": attempt.budget,
        "sample": attempt.sample,
        "repeat": repeat,
        "prompt_tokens": len(p.prompt_ids) if prompt_tokens is None else prompt_tokens,
        "thinking_tokens": attempt.thinking_tokens,
        "answer_tokens": attempt.answer_tokens,
        "engine_tokens": attempt.engine_tokens,
        "token_source": token_source,
        "extensions": attempt.extensions,
        "discarded_tokens": attempt.discarded_tokens,
        "verifier_score": attempt.certainty,
        # Tokens a verifier read to score this attempt (self-certainty: none).
        "verifier_tokens": 0,
        "search_tokens": attempt.search_tokens,
        "search_verifier_tokens": attempt.search_verifier_tokens,
        "search_verifier_seconds": round(attempt.search_verifier_seconds, 6),
        "search_score": attempt.search_score,
        "hit_budget": attempt.hit_budget,
        "finish": attempt.finish,
        "seconds": round(result.seconds, 6),
        "gold": p.problem.gold,
        "thinking_text": attempt.thinking_text,
        "answer_text": attempt.answer_text,
    }
