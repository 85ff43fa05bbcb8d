"""Grade stored attempts in worker processes, never in the sweep's main loop.

Workers are spawned (not forked): the parent may hold an inference engine's
threads, which fork would copy in a broken state.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from tqdm import tqdm

from bench.grading import get_grader

# Below this many items a pool's start-up (about a second per worker) costs
# more than grading; numeric checks take microseconds each.
POOL_THRESHOLD = 2000


def _grade_one(item: tuple[str, str, str]) -> tuple[bool, str | None]:
    grader, answer_text, gold = item
    grade = get_grader(grader)(answer_text, gold)
    return grade.correct, grade.extracted


class GradingPool:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._executor

    def grade(self, rows: list[dict[str, Any]], grader: dict[str, str]) -> list[dict[str, Any]]:
        """Grade rows (with key, task, answer_text, gold); `grader` maps task -> grader name."""
        items = [(grader[r["task"]], r["answer_text"], r["gold"]) for r in rows]
        if len(items) < POOL_THRESHOLD and self._executor is None:
            verdicts = list(map(_grade_one, items))
        else:
            chunk = max(1, len(items) // (self.workers * 8))
            verdicts = list(
                tqdm(
                    self._pool().map(_grade_one, items, chunksize=chunk),
                    total=len(items),
                    desc="grading",
                    unit="attempt",
                )
            )
        return [
            {"key": r["key"], "grader": g[0], "answer": extracted, "correct": correct}
            for r, g, (correct, extracted) in zip(rows, items, verdicts, strict=True)
        ]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None
