"""`bench perf`: speed ratios measured side by side in one run on the CPU engine.

Absolute times drift on shared machines; ratios of runs taken back to back on
the same engine do not. Writes results/perf/latest.json (keys from other
benchmarks in that file are kept):

  sweep_reuse_ratio      reuse sweep over all budgets / one separate run per budget
  largest_budget_ratio   reuse sweep / a single run at the largest budget
  engine_overhead_ratio  our strategy + store + grading / raw vllm.LLM.generate
                         on the identical prompts and sampling parameters
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.config import register
from bench.manifest import hardware, package_versions

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class RecordingEngine:
    """Passes calls through to an engine and keeps the requests, to replay them raw."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.supports_request_seed = engine.supports_request_seed
        self.requests: list[list[Any]] = []

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    def generate(self, requests: Any, *, desc: str = "generate") -> Any:
        self.requests.append(list(requests))
        return self.engine.generate(requests, desc=desc)


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name="config", overrides=["engine=vllm_cpu", *overrides])


def measure(problems: int, overrides: list[str]) -> dict[str, Any]:
    from bench.engines import make_engine
    from bench.grading.pool import GradingPool
    from bench.runner import Prompted, Sweep, build_prompts, chain_settings, load_suite
    from bench.store import RunStore
    from bench.strategies import SingleChain
    from bench.types import GenerationRequest

    cfg = _compose([f"suite.limit={problems}", "engine.show_progress=false", *overrides])
    budgets = list(cfg.budget.tokens)
    loaded, specs = load_suite(cfg.suite)
    engine = make_engine(cfg.engine, cfg.model)
    prompted: list[Prompted] = build_prompts(engine, loaded, specs, cfg.model)
    prompts = [p.prompt_ids for p in prompted]
    strategy = SingleChain(chain_settings(cfg.model))
    engine.generate([GenerationRequest(prompts[0], max_tokens=4)])  # start + warm up

    def strategy_seconds(run_budgets: list[int], target: Any = engine) -> tuple[float, Any, Any]:
        engine.reset_prefix_cache()
        started = time.perf_counter()
        results, stats = strategy.run(target, prompts, run_budgets)
        return time.perf_counter() - started, results, stats

    print(f"perf: {len(prompts)} prompts, budgets {budgets}", flush=True)
    reuse_seconds, _, reuse_stats = strategy_seconds(budgets)
    print(f"  reuse sweep: {reuse_seconds:.1f}s", flush=True)
    separate = {}
    for budget in budgets:
        separate[budget] = strategy_seconds([budget])[0]
        print(f"  separate run b={budget}: {separate[budget]:.1f}s", flush=True)

    # Overhead: our whole path for one budget (requests, splitting, storing, grading)
    # against raw LLM.generate replaying exactly the same requests.
    overhead_budget = budgets[len(budgets) // 2]
    recorder = RecordingEngine(engine)
    strategy_seconds([overhead_budget], recorder)
    replay = recorder.requests

    def ours() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            engine.reset_prefix_cache()
            pool = GradingPool(1)
            started = time.perf_counter()
            results, _ = strategy.run(engine, prompts, [overhead_budget])
            rows = [
                Sweep._row(str(i), prompted[r.prompt_index], r, cfg) for i, r in enumerate(results)
            ]
            store = RunStore(Path(tmp))
            store.append_generations(rows)
            store.append_grades(pool.grade(rows, {t: s.grader for t, s in specs.items()}))
            store.write_records()
            return time.perf_counter() - started

    def raw() -> float:
        engine.reset_prefix_cache()
        started = time.perf_counter()
        for requests in replay:
            params = [engine.sampling_params(r) for r in requests]
            engine.raw_generate([r.prompt_ids for r in requests], params)
        return time.perf_counter() - started

    ours_seconds = raw_seconds = 0.0
    for order in ((raw, ours), (ours, raw)):  # alternate to cancel drift
        for fn in order:
            seconds = fn()
            if fn is ours:
                ours_seconds += seconds
            else:
                raw_seconds += seconds
    print(
        f"  overhead at b={overhead_budget}: ours {ours_seconds:.1f}s vs raw {raw_seconds:.1f}s",
        flush=True,
    )
    engine.close()
    return {
        "sweep_reuse_ratio": round(reuse_seconds / sum(separate.values()), 4),
        "largest_budget_ratio": round(reuse_seconds / separate[max(budgets)], 4),
        "engine_overhead_ratio": round(ours_seconds / raw_seconds, 4),
        "details": {
            "problems": len(prompts),
            "budgets": budgets,
            "model": cfg.model.name,
            "engine": engine.describe(),
            "engine_start_seconds": engine.start_seconds,
            "reuse_seconds": round(reuse_seconds, 3),
            "reuse_generated_tokens": reuse_stats.thinking_generated + reuse_stats.answer_generated,
            "reuse_answer_requests": reuse_stats.answer_requests,
            "separate_seconds": {str(b): round(s, 3) for b, s in separate.items()},
            "overhead_budget": overhead_budget,
            "overhead_ours_seconds": round(ours_seconds, 3),
            "overhead_raw_seconds": round(raw_seconds, 3),
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench perf", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--problems", type=int, default=30, help="arith problems (levels interleaved 1, 2, 3, ...)"
    )
    parser.add_argument("--out", default="results/perf/latest.json")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. budget.tokens=[16,64]")
    args = parser.parse_args(argv)
    result = measure(args.problems, args.overrides)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.is_file() else {}
    existing.update(result)
    existing["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    existing["hardware"] = hardware()
    existing["versions"] = package_versions()
    out.write_text(json.dumps(existing, indent=2, default=str) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("sweep_reuse_ratio", "largest_budget_ratio", "engine_overhead_ratio")
            }
        )
    )
    print(f"wrote {out}")
    return 0
