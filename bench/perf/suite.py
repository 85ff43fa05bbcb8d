"""`bench perf`: speed ratios measured side by side in one run on the CPU engine.

Absolute times drift on shared machines; ratios of runs taken back to back on
the same engine do not. Writes results/perf/latest.json (keys from other
benchmarks in that file are kept):

  sweep_reuse_ratio      reuse sweep over all budgets / one separate run per budget
  largest_budget_ratio   reuse sweep / a single run at the largest budget
  engine_overhead_ratio  our strategy + store + grading / raw vllm.LLM.generate
                         on the identical prompts and sampling parameters (all
                         chains in one call, then all answer continuations in
                         another; ours streams answers into the running batch)

Checking benchmarks (bench/perf/checks.py) need the offline data sets
(--data, default $THINKBENCH_DATA: a folder with <set>/test.jsonl).
`--only` picks benchmarks: engine, served, math, code, analysis, grading,
verifier (bench/perf/verifier.py: verifier_overhead_ratio, goal <= 1.10),
search (bench/perf/search.py: search_overhead_ratio, goal <= 1.15),
view (bench/perf/view.py: `bench view` on a generated 20,000-attempt run:
view_overview_seconds <= 2, view_problem_seconds <= 0.5, peak memory).

  served_overhead_ratio  the same reuse sweep through engine=openai against a
                         local `vllm serve` (same model and engine settings)
                         / through the offline engine; records must be equal

  code_reference_seconds HumanEval's 164 reference solutions through the
                         sandbox (bubblewrap), one run per core; MBPP's too,
                         and with --code-rounds N all of them N times over,
                         then the sandbox processes and zombies left

  grading_overlap_ratio  a code sweep whose grading takes as long as its
                         generation (fake engine with delay) / the sum of the
                         two measured apart; goal <= 0.6 (bench/perf/grading.py)

  analysis_1m_seconds    price 1,000,000 synthetic records, then the scaling
                         (bootstrap CIs), per-difficulty and cost tables, the
                         Pareto front and cost-to-target, as a report does
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.run.manifest import hardware, package_versions

if TYPE_CHECKING:
    from bench.config.schema import Config


BENCHMARKS = {
    *("engine", "served", "math", "code", "analysis", "grading", "verifier", "search", "view"),
}


class RecordingEngine:
    """Passes a strategy's streams through to an engine and keeps every request,
    grouped by the kind its tag names ("think", "answer"), to replay them raw."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.supports_request_seed = engine.supports_request_seed
        self.requests: dict[str, list[Any]] = {}

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    def stream(self, *, desc: str = "generate") -> Any:
        inner = self.engine.stream(desc=desc)
        recorder = self

        class _Recording:
            def submit(self, tag: Any, request: Any) -> None:
                recorder.requests.setdefault(str(tag[0]), []).append(request)
                inner.submit(tag, request)

            def __iter__(self) -> Any:
                return iter(inner)

        return _Recording()


def _compose(overrides: list[str]) -> Any:
    from bench.sweep.compose import compose

    return compose(["engine=vllm_cpu", *overrides])


@dataclass
class _Rig:
    """One engine and the prompts every engine benchmark runs on it."""

    cfg: Config
    engine: Any
    prompted: list[Any]
    specs: dict[str, Any]
    strategy: Any

    @property
    def prompts(self) -> list[tuple[int, ...]]:
        return [p.prompt_ids for p in self.prompted]

    def seconds(self, budgets: list[int], target: Any = None) -> tuple[float, Any, Any]:
        """One strategy run from a cold prefix cache: (seconds, results, stats)."""
        self.engine.reset_prefix_cache()
        started = time.perf_counter()
        engine = self.engine if target is None else target
        results, stats = self.strategy.run(engine, self.prompts, budgets)
        return time.perf_counter() - started, results, stats


def _rig(problems: int, overrides: list[str]) -> _Rig:
    from bench.engines import make_engine
    from bench.strategies import SingleChain
    from bench.sweep.prompts import build_prompts, chain_settings, load_suite
    from bench.types import GenerationRequest

    cfg = _compose([f"suite.limit={problems}", "engine.show_progress=false", *overrides])
    loaded, specs = load_suite(cfg.suite)
    engine = make_engine(cfg.engine, cfg.model)
    prompted = build_prompts(engine, loaded, specs, cfg.model)
    engine.generate([GenerationRequest(prompted[0].prompt_ids, max_tokens=4)])  # start + warm up
    return _Rig(cfg, engine, prompted, specs, SingleChain(chain_settings(cfg.model)))


def _reuse_against_separate(rig: _Rig, budgets: list[int]) -> dict[str, Any]:
    """The reuse sweep over every budget, a run at the largest, and one run per
    other budget, in mirrored order (reuse, largest, the others, largest,
    reuse) so that drift affects both sides of each ratio alike."""
    largest = max(budgets)
    others = [b for b in budgets if b != largest]
    runs: dict[str, list[float]] = {"reuse": [], "largest": []}
    separate, phases = {}, []
    for label in ["reuse", "largest", *others, "largest", "reuse"]:
        if label in runs:
            seconds, _, stats = rig.seconds(budgets if label == "reuse" else [largest])
            runs[label].append(seconds)
            generated = stats.thinking_generated + stats.answer_generated
            phases.append(
                {
                    "run": label,
                    "answer_requests": stats.answer_requests,
                    "generated_tokens": generated,
                }
            )
        else:
            seconds = separate[label] = rig.seconds([label])[0]
        print(f"  {label if isinstance(label, str) else f'b={label}'}: {seconds:.1f}s", flush=True)
    separate[largest] = sum(runs["largest"]) / len(runs["largest"])
    return {"runs": runs, "separate": separate, "phases": phases}


def _overhead(rig: _Rig, budget: int) -> tuple[float, float]:
    """Our whole path for one budget (requests, splitting, storing, grading)
    against raw LLM.generate replaying exactly the same requests, alternated
    to cancel drift: (ours, raw) seconds."""
    from bench.grading.runtime.pool import GradingPool
    from bench.run.records import build_row
    from bench.run.store import RunStore

    engine, cfg = rig.engine, rig.cfg
    recorder = RecordingEngine(engine)
    rig.seconds([budget], recorder)
    replay = recorder.requests
    graders = {t: s.grader_name for t, s in rig.specs.items()}

    def ours() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            engine.reset_prefix_cache()
            pool = GradingPool(1)
            started = time.perf_counter()
            results, _ = rig.strategy.run(engine, rig.prompts, [budget])
            rows = [
                build_row(
                    str(i), rig.prompted[r.prompt_index], r, cfg.model.name, "single", "engine ids"
                )
                for i, r in enumerate(results)
            ]
            store = RunStore(Path(tmp))
            store.append_generations(rows)
            store.append_grades(pool.grade(rows, graders))
            store.write_records()
            return time.perf_counter() - started

    def raw() -> float:
        engine.reset_prefix_cache()
        started = time.perf_counter()
        for requests in replay.values():  # all chains, then all answers: two raw batches
            params = [engine.sampling_params(r) for r in requests]
            engine.raw_generate([r.prompt_ids for r in requests], params)
        return time.perf_counter() - started

    totals = {ours: 0.0, raw: 0.0}
    for order in ((raw, ours), (ours, raw)):
        for fn in order:
            totals[fn] += fn()
    return totals[ours], totals[raw]


def measure(problems: int, overrides: list[str]) -> dict[str, Any]:
    """sweep_reuse_ratio, largest_budget_ratio and engine_overhead_ratio on one engine."""
    rig = _rig(problems, overrides)
    budgets = list(rig.cfg.budget.tokens)
    print(f"perf: {len(rig.prompted)} prompts, budgets {budgets}", flush=True)
    rig.strategy.run(rig.engine, rig.prompts[:4], budgets[:1])  # warm the kernels on real shapes
    reuse = _reuse_against_separate(rig, budgets)
    runs, separate = reuse["runs"], reuse["separate"]
    reuse_seconds = sum(runs["reuse"]) / len(runs["reuse"])
    overhead_budget = budgets[len(budgets) // 2]
    ours_seconds, raw_seconds = _overhead(rig, overhead_budget)
    print(
        f"  overhead at b={overhead_budget}: ours {ours_seconds:.1f}s vs raw {raw_seconds:.1f}s",
        flush=True,
    )
    engine = rig.engine
    engine.close()
    return {
        "sweep_reuse_ratio": round(reuse_seconds / sum(separate.values()), 4),
        "largest_budget_ratio": round(reuse_seconds / separate[max(budgets)], 4),
        "engine_overhead_ratio": round(ours_seconds / raw_seconds, 4),
        "details": {
            "problems": len(rig.prompted),
            "budgets": budgets,
            "model": rig.cfg.model.name,
            "engine": engine.describe(),
            "engine_start_seconds": engine.start_seconds,
            "reuse_seconds": [round(s, 3) for s in runs["reuse"]],
            "largest_seconds": [round(s, 3) for s in runs["largest"]],
            "runs": reuse["phases"],
            "separate_seconds": {str(b): round(s, 3) for b, s in separate.items()},
            "overhead_budget": overhead_budget,
            "overhead_ours_seconds": round(ours_seconds, 3),
            "overhead_raw_seconds": round(raw_seconds, 3),
        },
    }


def served_overhead(problems: int, overrides: list[str]) -> dict[str, Any]:
    """One reuse sweep through `vllm serve` + engine=openai vs the offline
    engine, same prompts, budgets and engine settings, mirrored order, prefix
    caches reset before every run (the server's through its dev endpoint)."""
    import httpx
    from omegaconf import OmegaConf

    from bench.engines import make_engine, models
    from bench.engines.openai import OpenAIEngine
    from bench.engines.serve import ServerProcess, free_port, serve_command, server_env
    from bench.strategies import SingleChain
    from bench.sweep.prompts import build_prompts, chain_settings, load_suite

    cfg = _compose([f"suite.limit={problems}", "engine.show_progress=false", *overrides])
    budgets = list(cfg.budget.tokens)
    loaded, specs = load_suite(cfg.suite)
    offline = make_engine(cfg.engine, cfg.model)
    prompts = [p.prompt_ids for p in build_prompts(offline, loaded, specs, cfg.model)]
    port = free_port()
    command = serve_command(cfg.engine, cfg.model, models.prepare(cfg.model.source), port)
    env = server_env(cfg.engine) | {"VLLM_SERVER_DEV_MODE": "1"}  # for /reset_prefix_cache
    server = ServerProcess(command, port, env)
    try:
        server.wait_ready()
        served = OpenAIEngine(
            OmegaConf.merge(
                cfg.engine,
                {"kind": "openai", "base_url": server.url, "request_seeds": False},
            ),
            cfg.model,
        )
        strategy = SingleChain(chain_settings(cfg.model))
        for engine in (offline, served):  # start-up and kernel warm-up are not measured
            strategy.run(engine, prompts[:4], budgets[:1])

        def run(engine: Any) -> tuple[float, list[Any]]:
            if engine is offline:
                offline.reset_prefix_cache()
            else:
                httpx.post(f"http://127.0.0.1:{port}/reset_prefix_cache", timeout=60)
            started = time.perf_counter()
            results, _ = strategy.run(engine, prompts, budgets)
            return time.perf_counter() - started, results

        seconds: dict[str, list[float]] = {"offline": [], "served": []}
        texts: dict[str, list[Any]] = {}
        for engine in (offline, served, served, offline):
            name = "offline" if engine is offline else "served"
            took, results = run(engine)
            seconds[name].append(took)
            texts[name] = [(r.attempt.thinking_text, r.attempt.answer_text) for r in results]
            print(f"  {name}: {took:.1f}s", flush=True)
        served.close()
    finally:
        server.stop()
        offline.close()
    same = sum(a == b for a, b in zip(texts["offline"], texts["served"], strict=True))
    mean = {name: sum(s) / len(s) for name, s in seconds.items()}
    return {
        "served_overhead_ratio": round(mean["served"] / mean["offline"], 4),
        "served_details": {
            "problems": len(prompts),
            "budgets": budgets,
            "offline_seconds": [round(s, 3) for s in seconds["offline"]],
            "served_seconds": [round(s, 3) for s in seconds["served"]],
            "attempts_identical": f"{same}/{len(texts['offline'])}",
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`bench perf`'s arguments (cli.py's command tree holds the parser)."""
    parser.add_argument(
        "--problems", type=int, default=30, help="arith problems (levels interleaved 1, 2, 3, ...)"
    )
    parser.add_argument("--out", default="results/perf/latest.json")
    parser.add_argument(
        "--only",
        default="engine,served,math,code,analysis,grading,verifier,search,view",
        help="comma-separated benchmarks (engine, served, math, code, analysis, grading, "
        "verifier, search, view); default: all",
    )
    parser.add_argument(
        "--data",
        default=os.environ.get("THINKBENCH_DATA"),
        help="folder with <set>/test.jsonl (default: $THINKBENCH_DATA)",
    )
    parser.add_argument(
        "--code-rounds", type=int, default=1, help="code: run every reference N times (default 1)"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. budget.tokens=[16,64]")


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmarks; merge their numbers into args.out."""
    from bench.errors import UsageError

    chosen = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = chosen - BENCHMARKS
    if unknown:
        raise UsageError(f"--only {sorted(unknown)} is not known; choose from {sorted(BENCHMARKS)}")
    result: dict[str, Any] = {}
    if "engine" in chosen:
        result.update(measure(args.problems, args.overrides))
    if "served" in chosen:
        print("served engine against the offline one:", flush=True)
        result.update(served_overhead(args.problems, args.overrides))
    if "verifier" in chosen:
        from bench.perf.verifier import verifier_overhead

        print("verification phase against a raw vLLM pooling call (reference PRM):", flush=True)
        result.update(verifier_overhead(args.overrides))
    if "search" in chosen:
        from bench.perf.search import search_overhead

        print("beam search against the engine calls it makes (slipper, reference PRM):", flush=True)
        result.update(search_overhead(args.overrides))
    if "view" in chosen:
        from bench.perf.view import view_scale

        print("bench view on a generated run (20,000 attempts, 8,000-token chains):", flush=True)
        result.update(view_scale())
    if "analysis" in chosen:
        from bench.perf.checks import analysis_seconds

        print("analysis of synthetic records:", flush=True)
        result.update(analysis_seconds())
    needs_data = chosen & {"math", "code", "grading"}
    if needs_data and not (args.data and Path(args.data).is_dir()):
        print(
            f"skipped {', '.join(sorted(needs_data))}: they need the data sets; pass --data DIR "
            "or set THINKBENCH_DATA to a folder with <set>/test.jsonl",
            flush=True,
        )
    else:
        if "math" in chosen:
            from bench.perf.checks import math_checks

            print("math grader on reference solutions:", flush=True)
            math = math_checks(Path(args.data))
            result["math_details"] = math.pop("details")
            result.update(math)
        if "code" in chosen:
            from bench.perf.checks import code_reference

            print("code sandbox on reference solutions:", flush=True)
            result.update(code_reference(Path(args.data), max(1, args.code_rounds)))
        if "grading" in chosen:
            from bench.perf.grading import grading_overlap

            print("grading beside generation (fake engine with delay, HumanEval):", flush=True)
            result.update(grading_overlap(Path(args.data)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.is_file() else {}
    existing.update(result)
    existing["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    existing["hardware"] = hardware()
    existing["versions"] = package_versions()
    out.write_text(json.dumps(existing, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}))
    print(f"wrote {out}")
    return 0
