"""`bench perf` benchmarks of the checking side (no engine): how fast and how
right the graders are on reference solutions.

  math_checks_per_s           MATH-500: gold vs the answer extracted from the
                              reference solution, graded as a sweep grades
                              (workers on every core, hard timeouts)
  math_symbolic_checks_per_s  the same pairs with the exact-spelling fast path
                              off: every pair parsed and compared by sympy
                              (fresh workers, so parse caches start empty)
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
