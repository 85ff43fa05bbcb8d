"""`bench perf --only view`: `bench view` on a generated run the size the
issue names (20,000 attempts, 8,000-token chains), served by `bench view`
in a process of its own so its memory is its own:

  view_overview_seconds   the first /api/runs + /api/problems (the index is
                          built from the parts then), goal <= 2 s
  view_problem_seconds    the slowest of 20 problems' pages, goal <= 0.5 s
  view_peak_rss_mib       the server's peak memory, beside its memory once
                          started (imports) and the run's text (a whole-run
                          load would hold all of it on top)

The run is written the way a sweep stores one: parts of 500 attempts, each
problem's budgets and samples together, the smaller budgets' thinking a
prefix of the largest (one long generation serves them all).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench.run.store import RunStore, write_json_atomic

BUDGETS = (1000, 2000, 4000, 8000)
CHARS_PER_TOKEN = 3  # "+7=52," is six characters in about two tokens


def write_run(folder: Path, problems: int = 2500, samples: int = 2, part: int = 500) -> int:
    """A stored run of problems x 4 budgets x samples attempts; returns the
    characters of thinking text it holds."""
    rng = np.random.default_rng(0)
    pool = "".join(rng.choice(list("0123456789+-=,"), size=4_000_000))
    longest = BUDGETS[-1] * CHARS_PER_TOKEN
    store = RunStore(folder)
    rows: list[dict[str, Any]] = []
    grades: list[dict[str, Any]] = []
    total = 0
    for p in range(problems):
        for s in range(samples):
            start = int(rng.integers(0, len(pool) - longest))
            chain = pool[start : start + longest]
            for budget in BUDGETS:
                text = chain[: budget * CHARS_PER_TOKEN]
                total += len(text)
                key = f"p{p}/{budget}/{s}"
                rows.append(_attempt(key, p, s, budget, text))
                right = bool(rng.random() < budget / 9000)
                grades.append(
                    {
                        "key": key,
                        "grader": "numeric",
                        "answer": "42" if right else "7",
                        "correct": right,
                    }
                )
        if len(rows) >= part:
            store.append_generations(rows)
            store.append_grades(grades)
            rows, grades = [], []
    if rows:
        store.append_generations(rows)
        store.append_grades(grades)
    manifest = {
        "status": "complete",
        "config": {"model": {"name": "generated"}, "strategy": {"name": "sc"}},
    }
    write_json_atomic(manifest, folder / "manifest.json")
    return total


def _attempt(key: str, p: int, s: int, budget: int, text: str) -> dict[str, Any]:
    return {
        "key": key, "model": "generated", "task": "chain", "problem_id": f"p{p:05d}",
        "difficulty": str(p % 12 + 1), "strategy": "sc", "budget": budget, "sample": s,
        "repeat": 0, "prompt_tokens": 40, "thinking_tokens": len(text) // CHARS_PER_TOKEN,
        "answer_tokens": 4, "hit_budget": budget < BUDGETS[-1], "finish": "cut",
        "gold": "42", "thinking_text": text, "answer_text": "</think>42",
    }  # fmt: skip


def _get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def _memory_mib(pid: int, field: str) -> float:
    """A process's memory from /proc: VmRSS (now) or VmHWM (its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def view_scale(problems: int = 2500) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="thinkbench-view-") as tmp:
        run = Path(tmp) / "generated"
        started = time.perf_counter()
        text_chars = write_run(run, problems)
        written = time.perf_counter() - started
        attempts = problems * 2 * len(BUDGETS)
        print(
            f"  wrote {attempts} attempts ({text_chars / 2**20:.0f} MiB of thinking) in {written:.0f} s",
            flush=True,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.cli", "view", str(run), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            line = server.stdout.readline() if server.stdout else ""
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if not found:
                raise RuntimeError(f"bench view did not start: {line.strip()}")
            base = f"http://127.0.0.1:{found.group(1)}"
            started_rss = _memory_mib(server.pid, "VmRSS")  # imports done, nothing read yet
            runs_s, _ = _get(base + "/api/runs")
            list_s, list_bytes = _get(base + "/api/problems?run=0")
            again_s, _ = _get(base + "/api/problems?run=0")
            ids = [
                f"p{p:05d}" for p in np.random.default_rng(1).choice(problems, 20, replace=False)
            ]
            pages = [_get(f"{base}/api/problem?run=0&id={pid}")[0] for pid in ids]
            peak = _memory_mib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "view_attempts": attempts,
        "view_text_mib": round(text_chars / 2**20, 1),
        "view_overview_seconds": round(runs_s + list_s, 3),
        "view_overview_again_seconds": round(again_s, 3),
        "view_problem_seconds": round(max(pages), 3),
        "view_problem_median_seconds": round(float(np.median(pages)), 3),
        "view_problem_list_mib": round(list_bytes / 2**20, 2),
        "view_started_rss_mib": round(started_rss, 1),
        "view_peak_rss_mib": round(peak, 1),
    }
    print("  " + json.dumps(result), flush=True)
    return result
