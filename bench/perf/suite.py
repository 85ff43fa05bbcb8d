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

Each of them comes with its floor, the ratio the engine work alone predicts
(prompt tokens prefilled, cache hits and tokens decoded per side, from the
engine's own counts, priced at its measured prefill and decode seconds per
token: bench/perf/floor.py), as *_floor, and measured / floor as *_vs_floor:
what is ours to close. Where both sides ran through our stream on vLLM, the
step floor prices the engine steps each side ran instead (a step's fixed
cost plus its cost per request alive: a thinning batch is not cheaper per
step in proportion), as *_step_floor and *_vs_step_floor. `--repeat N` runs
every pair N times (each round in mirrored order) and reports the median,
with *_range for min and max.

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
                         (the same requests on one engine's settings: its
                         floor is 1 by construction, served_overhead_floor)

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
from pathlib import Path
from typing import Any

from bench.run.manifest import hardware, package_versions

BENCHMARKS = {
    *("engine", "served", "math", "code", "analysis", "grading", "verifier", "search", "view"),
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
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="engine: run each timed pair N times and report the median and range (default 1)",
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
    if args.repeat < 1:
        raise UsageError(
            f"--repeat {args.repeat}: run each pair at least once (--repeat 1 or more)"
        )
    if "engine" in chosen:
        from bench.perf.engine import measure

        result.update(measure(args.problems, args.overrides, args.repeat))
    if "served" in chosen:
        print("served engine against the offline one:", flush=True)
        from bench.perf.served import served_overhead

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
