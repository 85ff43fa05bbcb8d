"""`bench perf` benchmarks of the checking side (no engine): how fast and how
right the graders are on reference solutions.

  math_checks_per_s           MATH-500: gold vs the answer extracted from the
                              reference solution, graded as a sweep grades
                              (workers on every core, hard timeouts)
  math_symbolic_checks_per_s  the same pairs with the exact-spelling fast path
                              off: every pair parsed and compared by sympy
                              (fresh workers, so parse caches start empty)
  analysis_1m_seconds         tables and bootstrap CIs over 1,000,000 synthetic records
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def math_checks(data_dir: Path) -> dict[str, Any]:
    from bench.grading.math import PRELOAD, extract_answer
    from bench.grading.math_equivalence import check_pair
    from bench.grading.workers import HardTimeoutPool

    result: dict[str, Any] = {"details": {}}
    for name in ("math500", "gsm8k"):
        rows = _jsonl(data_dir / name / "test.jsonl")
        extracted = [extract_answer(r["solution"]) or "" for r in rows]
        for fast_path in (True, False):
            if name == "gsm8k" and not fast_path:
                continue
            pool = HardTimeoutPool(preload=PRELOAD)
            try:
                pool.start()  # start-up (importing sympy) is not checking
                items = [
                    (e, r["answer"], 5.0, fast_path) for e, r in zip(extracted, rows, strict=True)
                ]
                started = time.perf_counter()
                verdicts = pool.map(check_pair, items, 5.0, default=False)
                seconds = time.perf_counter() - started
            finally:
                pool.close()
            failures = [r["id"] for r, ok in zip(rows, verdicts, strict=True) if not ok]
            label = f"{name}{'' if fast_path else '_symbolic'}"
            result["details"][label] = {
                "items": len(rows),
                "equivalent": len(rows) - len(failures),
                "failures": failures[:20],
                "seconds": round(seconds, 3),
                "workers": pool.size,
                "timed_out": pool.killed,
            }
            print(
                f"  {label}: {len(rows) - len(failures)}/{len(rows)} equivalent, "
                f"{len(rows) / seconds:.0f} checks/s on {pool.size} workers",
                flush=True,
            )
            if name == "math500":
                key = "math_checks_per_s" if fast_path else "math_symbolic_checks_per_s"
                result[key] = round(len(rows) / seconds, 1)
    return result


def synthetic_records(count: int = 1_000_000, seed: int = 0) -> Any:
    """`count` graded records: 4 models x 5 strategies x 5 budgets x problems,
    one sample each, accuracy rising with budget (for timing the analysis)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    models, strategies, budgets = 4, 5, [256, 512, 1024, 2048, 4096]
    problems = count // (models * strategies * len(budgets))
    n = models * strategies * len(budgets) * problems
    budget = np.tile(np.repeat(budgets, problems), models * strategies)
    thinking = np.minimum(budget, rng.integers(50, 5000, n))
    return pd.DataFrame(
        {
            "model": np.repeat([f"model-{i}" for i in range(models)], n // models),
            "task": "synthetic",
            "strategy": np.tile(
                np.repeat([f"strategy-{i}" for i in range(strategies)], n // (models * strategies)),
                models,
            ),
            "budget": budget,
            "problem_id": np.tile(np.arange(problems), n // problems).astype(str),
            "sample": 0,
            "difficulty": np.tile(np.arange(problems) % 5, n // problems).astype(str),
            "prompt_tokens": rng.integers(50, 400, n),
            "thinking_tokens": thinking,
            "answer_tokens": rng.integers(5, 50, n),
            "seconds": thinking / 2000.0,
            "correct": rng.random(n) < np.log2(budget) / 14,
        }
    )


def analysis_seconds(count: int = 1_000_000) -> dict[str, Any]:
    """Price the records, then scaling (with bootstrap CIs), per-difficulty and
    cost tables, Pareto front and cost-to-target: what a report computes."""
    from bench.analysis.cost import cost_table, cost_to_target, pareto_frontier, price_records
    from bench.analysis.metrics import scaling_table

    records = synthetic_records(count)
    pricing = {
        "device_hours": {"cuda": {"usd_per_hour": 2.49}},
        "api": {"model-0": {"input_per_m": 0.05, "output_per_m": 0.4}},
    }
    runs = {f"model-{i}": {"device": "cuda", "parameters": 8e9} for i in range(4)}
    started = time.perf_counter()
    priced = price_records(records, pricing, runs)
    scaling = scaling_table(priced)
    by_difficulty = scaling_table(priced, by=("difficulty",))
    cost = cost_table(priced)
    pareto_frontier(cost)
    cost_to_target(cost)
    seconds = time.perf_counter() - started
    print(
        f"  analysis of {len(records):,} records: {seconds:.2f} s "
        f"({len(scaling)} scaling rows, {len(by_difficulty)} by difficulty, {len(cost)} cost rows)",
        flush=True,
    )
    return {"analysis_1m_seconds": round(seconds, 2), "analysis_records": len(records)}


def code_reference(data_dir: Path) -> dict[str, Any]:
    """HumanEval's 164 reference solutions through the sandbox, one run per core."""
    from bench.grading.sandbox import isolation, run_many

    rows = _jsonl(data_dir / "humaneval" / "test.jsonl")
    jobs = [(r["prompt"] + r["canonical_solution"], r["test"], r["entry_point"]) for r in rows]
    isolation()  # probe once, outside the timing
    started = time.perf_counter()
    results = run_many(jobs)
    seconds = time.perf_counter() - started
    failed = [r["id"] for r, res in zip(rows, results, strict=True) if not res.passed]
    print(
        f"  humaneval references: {len(rows) - len(failed)}/{len(rows)} pass in {seconds:.1f} s "
        f"({isolation()})",
        flush=True,
    )
    return {
        "code_reference_seconds": round(seconds, 2),
        "code_details": {
            "items": len(rows),
            "passed": len(rows) - len(failed),
            "failed": failed[:20],
            "isolation": isolation(),
        },
    }
