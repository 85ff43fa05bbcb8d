"""Grade stored attempts: extract answers here, run slow checks in workers.

Cheap graders (exact numbers) check in the calling process. Graders whose
checks may be slow or hang (symbolic math) run in HardTimeoutPool workers,
in parallel across cores, each check under `timeout_s`: a check past it
counts as wrong and the sweep goes on.
"""

from __future__ import annotations

import os
from typing import Any

from tqdm import tqdm

from bench.grading import Grader, get_grader, preflight
from bench.grading.runtime.workers import HardTimeoutPool

# Show a progress bar from this many worker checks on.
PROGRESS_FROM = 500


class GradingPool:
    def __init__(
        self, workers: int | None = None, timeout_s: float = 5.0, quiet: bool = False
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        # A pool behind the sweep's own progress bar draws none of its own.
        self.quiet = quiet
        self._pools: dict[tuple[str, ...], HardTimeoutPool] = {}

    def _pool(self, grader: Grader) -> HardTimeoutPool:
        if grader.preload not in self._pools:
            self._pools[grader.preload] = HardTimeoutPool(self.workers, grader.preload)
        return self._pools[grader.preload]

    def warm_up(self, names: set[str]) -> None:
        """Start what grading these graders will need (their worker processes,
        the sandbox's isolation probe) before the first attempt arrives."""
        for name in names:
            grader = get_grader(name)
            if grader.preload and not grader.in_process:
                self._pool(grader).start()
        preflight(names)  # the code sandbox's isolation probe and control programs

    @property
    def timed_out(self) -> int:
        return sum(p.killed for p in self._pools.values())

    def grade(self, rows: list[dict[str, Any]], grader: dict[str, str]) -> list[dict[str, Any]]:
        """Grade rows (with key, task, answer_text, gold); `grader` maps task -> grader name.

        A chain cut by the budget is also graded on the last answer inside its
        thinking (correct_in_thinking; analysis/truncation.py), None elsewhere."""
        graders = [get_grader(grader[r["task"]]) for r in rows]
        cut = [
            i
            for i, r in enumerate(rows)
            if r.get("hit_budget") and r.get("thinking_text") is not None
        ]
        # Answers and cut chains' thinking in one batch: the slow checks (sandbox
        # runs, symbolic workers) then fill every core once instead of twice.
        all_extracted, all_correct, all_status = self._check(
            graders + [graders[i] for i in cut],
            [r["answer_text"] for r in rows] + [rows[i]["thinking_text"] for i in cut],
            rows + [rows[i] for i in cut],
        )
        extracted, correct = all_extracted[: len(rows)], all_correct[: len(rows)]
        status = all_status[: len(rows)]
        in_thinking: list[bool | None] = [None] * len(rows)
        for i, verdict in zip(cut, all_correct[len(rows) :], strict=True):
            in_thinking[i] = verdict
        vote_class = self._vote_classes(rows, graders, extracted)
        return [
            {
                "key": r["key"],
                "grader": g.name,
                "answer": answer,
                "correct": ok,
                "vote_class": v,
                "correct_in_thinking": t,
                "status": how[0],
                "detail": how[1],
            }
            for r, g, answer, ok, v, t, how in zip(
                rows, graders, extracted, correct, vote_class, in_thinking, status, strict=True
            )
        ]

    def _check(
        self, graders: list[Grader], texts: list[str], rows: list[dict[str, Any]]
    ) -> tuple[list[str | None], list[bool], list[tuple[str | None, str | None]]]:
        """Extract each text's answer and check it against its row's gold.
        Also returns (status, detail) per text: how a batch grader's run ended
        (the code sandbox's status), (None, None) for other graders."""
        extracted = [g.extract(text) for g, text in zip(graders, texts, strict=True)]
        correct: list[bool] = [False] * len(rows)
        status: list[tuple[str | None, str | None]] = [(None, None)] * len(rows)
        remote: dict[str, list[int]] = {}
        for i, (g, answer) in enumerate(zip(graders, extracted, strict=True)):
            if answer is None:
                status[i] = (g.no_answer_status, None)
                continue
            if g.in_process and g.batch is None:
                correct[i] = g.check((answer, rows[i]["gold"], self.timeout_s))
            else:
                remote.setdefault(g.name, []).append(i)
        for name, indices in remote.items():
            g = get_grader(name)
            items = [(extracted[i], str(rows[i]["gold"]), self.timeout_s) for i in indices]
            with tqdm(
                total=len(items),
                desc=f"grading ({name})",
                unit="check",
                disable=self.quiet or len(items) < PROGRESS_FROM,
            ) as bar:
                if g.batch is not None:
                    results = g.batch(items, self.timeout_s)
                    bar.update(len(items))
                    verdicts = [r.passed for r in results]
                    for i, r in zip(indices, results, strict=True):
                        status[i] = (r.status, r.detail or None)
                else:
                    verdicts = self._pool(g).map(
                        g.check, items, self.timeout_s, default=False, progress=bar.update
                    )
            for i, verdict in zip(indices, verdicts, strict=True):
                correct[i] = bool(verdict)
        return extracted, correct, status

    def _vote_classes(
        self, rows: list[dict[str, Any]], graders: list[Grader], extracted: list[str | None]
    ) -> list[int]:
        """Where a problem has several samples at one budget, which of its answers
        are equivalent (for majority voting); -1 for no answer or a lone sample.
        The strategy yields whole problems, so a batch holds every sample."""
        labels = [-1] * len(rows)
        groups: dict[tuple, list[int]] = {}
        for i, row in enumerate(rows):
            if "problem_id" in row and "budget" in row:
                # A repeat (another seed) is a vote of its own.
                key = (
                    row["task"],
                    row["problem_id"],
                    row["budget"],
                    row.get("model"),
                    row.get("repeat", 0),
                )
                groups.setdefault(key, []).append(i)
        by_grader: dict[str, list[list[int]]] = {}
        for indices in groups.values():
            if len(indices) > 1:
                by_grader.setdefault(graders[indices[0]].name, []).append(indices)
        for name, group_list in by_grader.items():
            g = get_grader(name)
            items = [([extracted[i] for i in indices], self.timeout_s) for indices in group_list]
            if g.in_process:
                grouped = [g.classes(item) for item in items]
            else:
                # One job per problem; a problem whose grouping passes its deadline
                # is grouped by exact spelling rather than stalling the sweep.
                deadline = self.timeout_s * max(len(item[0]) for item in items)
                grouped = self._pool(g).map(g.classes, items, deadline, default=None)
            for indices, classes in zip(group_list, grouped, strict=True):
                if classes is None:
                    spelled: dict[str, int] = {}
                    answers = [extracted[i] for i in indices]
                    classes = [
                        -1 if a is None else spelled.setdefault(a, len(spelled)) for a in answers
                    ]
                for i, label in zip(indices, classes, strict=True):
                    labels[i] = label
        return labels

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools = {}
