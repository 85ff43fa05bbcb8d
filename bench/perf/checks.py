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
    from bench.grading.math.equivalence import check_pair
    from bench.grading.math.grade import PRELOAD, extract_answer
    from bench.grading.runtime.workers import HardTimeoutPool

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


def _reference_jobs(data_dir: Path, name: str) -> list[tuple[str, tuple]]:
    """(id, sandbox job) for every reference solution of a code set, built the
    way the grader builds a model's answer (code._job)."""
    from bench.grading.code.grade import _job

    jobs = []
    for row in _jsonl(data_dir / name / "test.jsonl"):
        if "prompt" in row and "def check" in row["test"]:  # HumanEval: a continuation
            gold = {k: row[k] for k in ("test", "entry_point", "prompt")}
            answer = row["prompt"] + row["canonical_solution"]
        else:
            gold = {"test": row["test"], "entry_point": row.get("entry_point")}
            gold["imports"] = row.get("test_imports") or []
            answer = row["canonical_solution"]
        jobs.append((row["id"], _job(f"```python\n{answer}\n```", json.dumps(gold))))
    return jobs


def _host_zombies() -> int:
    from bench import procs

    return sum(p.state == "Z" for p in procs.snapshot().values())


def code_reference(data_dir: Path, rounds: int = 1) -> dict[str, Any]:
    """HumanEval's 164 (timed: code_reference_seconds) and MBPP's reference
    solutions through the sandbox, one run per core; with rounds > 1 the whole
    set again and again in this process, then the processes and zombies left."""
    from bench.grading.sandbox.accounting import UID_BASE, UID_SLOTS, processes_of
    from bench.grading.sandbox.execute import isolation, run_many

    sets = {name: _reference_jobs(data_dir, name) for name in ("humaneval", "mbpp")}
    sets = {name: jobs for name, jobs in sets.items() if jobs}
    isolation()  # probe once, outside the timing
    zombies_before = _host_zombies()
    details: dict[str, Any] = {"isolation": isolation(), "rounds": rounds}
    seconds: dict[str, list[float]] = {}
    per_run: list[float] = []
    for round_index in range(rounds):
        for name, jobs in sets.items():
            started = time.perf_counter()
            results = run_many([job for _, job in jobs])
            took = time.perf_counter() - started
            seconds.setdefault(name, []).append(round(took, 2))
            failed = [i for (i, _), res in zip(jobs, results, strict=True) if not res.passed]
            entry = details.setdefault(name, {"items": len(jobs), "runs": 0, "failed": []})
            entry["runs"] += len(jobs)
            entry["failed"] = sorted(set(entry["failed"]) | set(failed))[:20]
            print(
                f"  round {round_index + 1}/{rounds} {name} references: "
                f"{len(jobs) - len(failed)}/{len(jobs)} pass in {took:.1f} s ({isolation()})",
                flush=True,
            )
            per_run.extend(r.seconds for r in results)
    left = len(processes_of(range(UID_BASE, UID_BASE + 2 * UID_SLOTS)))
    zombies = max(0, _host_zombies() - zombies_before)
    details.update(seconds=seconds, sandbox_processes_left=left, new_zombies=zombies)
    print(f"  after all runs: {left} sandbox process(es) left, {zombies} new zombie(s)")
    breakdown = per_run_costs(per_run)
    print(
        "  per run: median {reference_run_median_s} s (p90 {reference_run_p90_s}); an empty run "
        "{empty_run_s} s; interpreter start {interpreter_start_s} s; bwrap start "
        "{bwrap_start_s} s".format(**breakdown),
        flush=True,
    )
    first = seconds.get("humaneval", [0.0])[0]
    return {"code_reference_seconds": first, "code_per_run": breakdown, "code_details": details}


PROBES = 10


def per_run_costs(per_run: list[float]) -> dict[str, float | None]:
    """Where a sandbox run's time goes, so machines of one kind can be told
    apart: the reference runs' own seconds (median, p90), a run of an empty
    program (two sandboxes and two interpreters started, nothing tested), and
    its parts: the sandbox's Python starting bare, and bubblewrap starting
    `true` (namespaces and mounts). Medians of PROBES runs each, one at a time."""
    import shutil
    import statistics
    import subprocess

    from bench.grading.sandbox.execute import run_tests, sandbox_python

    def median_of(fn) -> float:
        times = []
        for _ in range(PROBES):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return round(statistics.median(times), 4)

    env = {"PATH": "/usr/bin:/bin"}
    ordered = sorted(per_run)
    return {
        "reference_run_median_s": round(statistics.median(ordered), 4) if ordered else None,
        "reference_run_p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 4)
        if ordered
        else None,
        "empty_run_s": median_of(lambda: run_tests("def f():\n    return 1\n", "", "f")),
        "interpreter_start_s": median_of(
            lambda: subprocess.run([sandbox_python(), "-I", "-c", "pass"], env=env, check=False)
        ),
        "bwrap_start_s": median_of(
            lambda: subprocess.run(
                ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"], env=env, check=False
            )
        )
        if shutil.which("bwrap")
        else None,
    }
