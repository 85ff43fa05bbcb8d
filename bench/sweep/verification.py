"""The sweep's verification phase: a reward model scores every stored attempt
that it has not scored yet, one batch per thinking budget over every problem
(never a loop per attempt), and the scores are stored beside the grades.

At each budget the verifier reads what the policy wrote under that budget:
the cut thinking, split into steps at the policy model's `step_delimiter`,
then the forced answer as the last step. A PRM's step scores become one
score by `strategy.step_aggregate` (last, min or prod; Lightman et al. 2023
and search-and-learn use these); an ORM gives one score. Each attempt keeps
its step scores, the tokens the verifier read and its share of the
verifier's engine seconds, so cost tables and FLOPs count the verifier.
Like generations and grades, what was scored is stored as it is scored: a
stopped sweep re-scores nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
from tqdm import tqdm

from bench.config.schema import VerifierConfig
from bench.run.store import RunStore
from bench.strategies.verifiers import aggregate_steps


def answer_only(answer_text: str, delimiters: Sequence[str]) -> str:
    """The answer a verifier reads: without the end-of-thinking text a chain
    that ended on its own (or the forced answer's cue) leaves in front of it."""
    text = (answer_text or "").strip()
    for delimiter in sorted((d for d in delimiters if d), key=len, reverse=True):
        if text.startswith(delimiter):
            return text[len(delimiter) :].strip()
    return text


def verify_stored(
    store: RunStore,
    engine: Any,
    verifier: VerifierConfig,
    questions: dict[tuple[str, str], str],
    delimiter: str,
    how: str,
    show: bool = True,
    answer_cues: Sequence[str] = (),
) -> dict[str, Any]:
    """Score every attempt of the run that `verifier` has not scored; returns
    what the manifest keeps of it (attempts, tokens, seconds)."""
    pending = store.unverified(verifier.name)
    scored = tokens = 0
    started = time.perf_counter()
    budgets = sorted(pending["budget"].unique().tolist()) if not pending.empty else []
    with tqdm(total=len(pending), desc="verifying", unit="attempt", disable=not show) as bar:
        for budget in budgets:
            rows = pending[pending["budget"] == budget]
            rows_out = _score_budget(engine, verifier, rows, questions, delimiter, how, answer_cues)
            store.append_verifications(rows_out)
            scored += len(rows_out)
            tokens += sum(r["verifier_tokens"] for r in rows_out)
            bar.update(len(rows_out))
    return {
        "verifier": verifier.name,
        "scored": scored,
        "tokens": tokens,
        "seconds": round(time.perf_counter() - started, 3),
        "engine": engine.describe(),
    }


def _score_budget(
    engine: Any,
    verifier: VerifierConfig,
    rows: pd.DataFrame,
    questions: dict[tuple[str, str], str],
    delimiter: str,
    how: str,
    answer_cues: Sequence[str],
) -> list[dict[str, Any]]:
    """One pooling batch for every attempt at one budget."""
    inputs = [
        engine.inputs(
            questions[(row.task, row.problem_id)],
            row.thinking_text or "",
            answer_only(row.answer_text, answer_cues),
            delimiter,
        )
        for row in rows.itertuples(index=False)
    ]
    before = engine.busy_seconds
    results = engine.score(inputs)
    seconds = engine.busy_seconds - before
    total = sum(r.tokens for r in results) or 1
    out = []
    for key, result in zip(rows["key"], results, strict=True):
        steps = [float(s) for s in result.step_scores]
        out.append(
            {
                "key": key,
                "verifier": verifier.name,
                "verifier_score": _one_score(steps, verifier.kind, how),
                "verifier_step_scores": steps,
                "verifier_tokens": int(result.tokens),
                # The batch's engine time, shared by tokens read.
                "verifier_seconds": round(seconds * result.tokens / total, 6),
            }
        )
    return out


def _one_score(steps: list[float], kind: str, how: str) -> float:
    """A PRM's step scores aggregated; an ORM's single score."""
    if kind == "prm":
        return aggregate_steps(steps, how)
    return steps[-1] if steps else math.nan
