"""`bench perf --only search`: a beam search against the raw engine work it
makes.

  search_overhead_ratio  wall time of a beam search (strategies/search.py:
                         every iteration's policy batch, the verifier batch
                         over the new partial chains, selection, answers) /
                         the time spent inside the engines' own calls (vLLM's
                         `LLMEngine.add_request` and `step` for the policy,
                         what `LLM.generate` runs, and `LLM.encode(...,
                         pooling_task="token_classify")` for the PRM); goal
                         <= 1.15: the Python between steps must not dominate

The slipping policy and the reference PRM on vLLM's CPU build, both engines
started and warmed before timing; chain problems of every length, beam
n=4, width 2, budget 128.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

PROBLEMS = 24
ROUNDS = 3


def search_overhead(overrides: list[str]) -> dict[str, Any]:
    from bench.config.schema import load_verifier
    from bench.engines import make_engine
    from bench.engines.reward import make_reward_engine
    from bench.strategies import get
    from bench.sweep.compose import compose
    from bench.sweep.prompts import build_prompts, chain_settings, job_of, load_suite

    cfg = compose(
        ["model=slipper", "suite=chain", "engine=vllm_cpu", "engine.kv_cache_space_gib=2",
         "strategy=beam", "strategy.n=4", "strategy.beam_width=2", "engine.show_progress=false",
         f"suite.limit={PROBLEMS}", *overrides]
    )  # fmt: skip
    plugin = get(cfg.strategy.name)
    problems, specs = load_suite(cfg.suite, [])
    engine = make_engine(cfg.engine, cfg.model)
    verifier = make_reward_engine(load_verifier(str(cfg.strategy.verifier)), cfg.engine)
    try:
        prompted = build_prompts(engine, problems, specs, cfg.model)
        inside = _time_engine_calls(engine, verifier)
        # Warm both engines (start-up and first batches are not the search's).
        strategy = plugin.build(chain_settings(cfg.model, cfg.strategy), cfg.model)
        strategy.attach(verifier)
        strategy.run(engine, job_of(prompted[:4], [32], cfg.strategy.n))
        walls, engine_seconds = [], []
        for _ in range(ROUNDS):
            inside["seconds"] = 0.0
            started = time.perf_counter()
            strategy.run(engine, job_of(prompted, [128], cfg.strategy.n))
            walls.append(time.perf_counter() - started)
            engine_seconds.append(inside["seconds"])
    finally:
        engine.close()
        verifier.close()
    ratios = [w / e for w, e in zip(walls, engine_seconds, strict=True)]
    return {
        "search_overhead_ratio": round(statistics.median(ratios), 4),
        "search_details": {
            "problems": PROBLEMS,
            "wall_seconds": [round(s, 3) for s in walls],
            "engine_seconds": [round(s, 3) for s in engine_seconds],
        },
    }


def _time_engine_calls(engine: Any, verifier: Any) -> dict[str, float]:
    """Accumulate the seconds spent inside the engines' own calls: the
    policy's `add_request` and `step` (what `LLM.generate` runs) and the
    PRM's `encode`."""
    inside = {"seconds": 0.0}
    core, llm = engine.llm.llm_engine, verifier.llm
    add, step, encode = core.add_request, core.step, llm.encode

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                inside["seconds"] += time.perf_counter() - started

        return wrapper

    core.add_request = timed(add)
    core.step = timed(step)
    llm.encode = timed(encode)
    return inside
