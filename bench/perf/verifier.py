"""`bench perf --only verifier`: the verification phase against a raw vLLM
pooling call on the same inputs.

  verifier_overhead_ratio  scoring stored attempts through the harness
                           (bench/sweep/verification.py: read the store, build each
                           PRM input, one pooling batch per budget, aggregate,
                           store the scores) / `LLM.encode(...,
                           pooling_task="token_classify")` on the identical
                           token ids; goal <= 1.10

The attempts are slipped chains of the chain suite's lengths (two budgets),
scored by the reference PRM on vLLM's CPU build; the engine is started once
and warmed before timing, and the two are timed alternately.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ATTEMPTS = 600
ROUNDS = 3


def _attempts(count: int) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    from bench.tasks.chain import random_chain
    from bench.tasks.chain_steps import slipped

    rng = random.Random(0)
    rows, questions = [], {}
    for i in range(count):
        chain = random_chain(rng, 1 + i % 12)
        thinking, answer, _ = slipped(chain, rng, 0.1)
        budget = 16 if i % 2 else 128
        questions[("chain", f"p{i}")] = chain.question
        rows.append(
            {
                "key": f"k{i}",
                "task": "chain",
                "problem_id": f"p{i}",
                "budget": budget,
                "thinking_text": thinking[:budget],
                "answer_text": str(answer),
            }
        )
    return rows, questions


def verifier_overhead(overrides: list[str]) -> dict[str, Any]:
    from vllm.inputs import TokensPrompt

    from bench.config.schema import load_verifier
    from bench.engines.reward import VLLMRewardEngine
    from bench.run.store import RunStore
    from bench.sweep.compose import compose
    from bench.sweep.verification import verify_stored

    cfg = compose(["engine=vllm_cpu", *overrides])
    verifier = load_verifier("reference-prm")
    engine = VLLMRewardEngine(verifier, cfg.engine)
    rows, questions = _attempts(ATTEMPTS)
    try:
        inputs = [
            engine.inputs(questions[(r["task"], r["problem_id"])], r["thinking_text"],
                          r["answer_text"], ",")
            for r in rows
        ]  # fmt: skip
        prompts = [TokensPrompt(prompt_token_ids=list(i.prompt_token_ids)) for i in inputs]
        engine.llm.encode(prompts[:32], pooling_task="token_classify", use_tqdm=False)  # warm

        def raw() -> float:
            started = time.perf_counter()
            for budget in (16, 128):
                chosen = [p for p, r in zip(prompts, rows, strict=True) if r["budget"] == budget]
                engine.llm.encode(chosen, pooling_task="token_classify", use_tqdm=False)
            return time.perf_counter() - started

        def ours() -> float:
            with tempfile.TemporaryDirectory() as folder:
                store = RunStore(Path(folder) / "run")
                store.append_generations(rows)
                started = time.perf_counter()
                verify_stored(store, engine, verifier, questions, ",", "last", show=False)
                return time.perf_counter() - started

        seconds: dict[str, list[float]] = {"ours": [], "raw": []}
        for _ in range(ROUNDS):
            seconds["raw"].append(raw())
            seconds["ours"].append(ours())
    finally:
        engine.close()
    ratio = statistics.median(seconds["ours"]) / statistics.median(seconds["raw"])
    return {
        "verifier_overhead_ratio": round(ratio, 4),
        "verifier_details": {
            "attempts": ATTEMPTS,
            "tokens": sum(len(i.prompt_token_ids) for i in inputs),
            "ours_seconds": [round(s, 3) for s in seconds["ours"]],
            "raw_seconds": [round(s, 3) for s in seconds["raw"]],
        },
    }
