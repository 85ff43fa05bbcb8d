"""`bench perf --only grading`: does grading overlap generation?

The fake engine writes code (engine.script=code) for all 164 HumanEval
problems at two budgets (328 programs) and sleeps `delay_s` per finished request: accelerator time that takes no CPU.
The delay is calibrated so that generating takes about as long as grading
the programs in the sandbox. Then, side by side:

  generation alone   the strategy on the engine, nothing graded
  grading alone      every stored attempt graded in one go (as before the stage)
  the sweep          both, the grading stage beside the engine loop

  grading_overlap_ratio  sweep (generate + grade) / (generation alone + grading alone);
                         1.0: no overlap (the sum), 0.5: perfect overlap of equal halves
  engine_idle_share      share of the sweep's wall time the engine had no work
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.config.schema import Config


def _generate_alone(cfg: Config, delay: float) -> tuple[float, list[dict[str, Any]], int]:
    """The strategy on the fake engine, nothing graded: (seconds, rows to grade,
    requests finished)."""
    from bench.engines import make_engine
    from bench.run.records import build_row
    from bench.strategies import SingleChain
    from bench.sweep.prompts import build_prompts, chain_settings, job_of, load_suite

    loaded, specs = load_suite(cfg.suite)
    engine = make_engine(cfg.engine, cfg.model)
    engine.delay_s = delay
    prompted = build_prompts(engine, loaded, specs, cfg.model)
    started = time.perf_counter()
    job = job_of(prompted, cfg.budget.tokens)
    results, stats = SingleChain(chain_settings(cfg.model)).run(engine, job)
    seconds = time.perf_counter() - started
    rows = [
        build_row(str(i), prompted[r.prompt_index], r, cfg.model.name, "single", "engine ids")
        for i, r in enumerate(results)
    ]
    return seconds, rows, len(prompted) + stats.answer_requests


def _grade_alone(rows: list[dict[str, Any]], graders: dict[str, str]) -> float:
    """Every row graded in one go, as a sweep graded before the stage: seconds."""
    from bench.grading.runtime.pool import GradingPool

    pool = GradingPool(quiet=True)
    try:
        started = time.perf_counter()
        pool.grade(rows, graders)
        return time.perf_counter() - started
    finally:
        pool.close()


def grading_overlap(
    data_dir: Path, problems: int = 164, budgets: str = "[16,64]"
) -> dict[str, Any]:
    from bench.sweep.compose import compose
    from bench.sweep.runner import Sweep

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            "engine=fake",
            "engine.script=code",
            "suite=humaneval",
            f"suite.limit={problems}",
            f"suite.data_dir={data_dir}",
            f"budget.tokens={budgets}",
            f"results_dir={tmp}",
            "store_interval_s=0.5",
            "report=false",
            "summary=false",
            "engine.show_progress=false",
        ]
        cfg = compose(overrides)
        graders = {name: "code" for name in cfg.suite.tasks}
        _, rows, requests = _generate_alone(cfg, 0.0)
        _grade_alone(rows[:8], graders)  # warm the sandbox (its isolation probe) untimed
        grade_alone = _grade_alone(rows, graders)
        delay = grade_alone / requests  # generation about as long as grading
        generate_alone, _, _ = _generate_alone(cfg, delay)
        sweep = Sweep(compose([*overrides, f"engine.delay_s={delay:.6f}", "run_name=overlap"]))
        sweep.run()
        timing = sweep.grading
    both = timing["generate_and_grade_seconds"]
    ratio = both / (generate_alone + grade_alone)
    idle = max(0.0, 1.0 - generate_alone / both)
    print(
        f"  {len(rows)} programs: generation alone {generate_alone:.1f} s, grading alone "
        f"{grade_alone:.1f} s, the sweep {both:.1f} s -> ratio {ratio:.2f} (goal <= 0.6), "
        f"engine idle {idle:.0%} of the sweep",
        flush=True,
    )
    return {
        "grading_overlap_ratio": round(ratio, 3),
        "engine_idle_share": round(idle, 3),
        "grading_details": {
            "programs": len(rows),
            "delay_s": round(delay, 6),
            "generation_alone_seconds": round(generate_alone, 3),
            "grading_alone_seconds": round(grade_alone, 3),
            "sweep": timing,
        },
    }
