"""`bench perf`'s engine pairs on the CPU engine: the reuse sweep against one
run per budget and against the largest budget alone, and our whole path
against raw LLM.generate on the same requests; each ratio beside its floor
(floor.py), with --repeat N the median and range over N rounds."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.perf.floor import (
    CountingEngine,
    TokenCosts,
    Work,
    floor_ratio,
    raw_work,
    read_against,
    step_floor_ratio,
    token_costs,
)
from bench.strategies.job import Job

if TYPE_CHECKING:
    from bench.config.schema import Config


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
        results, stats = self.strategy.run(engine, Job.of(self.prompts, budgets))
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
    separate, phases, work = {}, [], {}
    for label in ["reuse", "largest", *others, "largest", "reuse"]:
        counting = CountingEngine(rig.engine)
        if label in runs:
            seconds, _, stats = rig.seconds(budgets if label == "reuse" else [largest], counting)
            runs[label].append(seconds)
            generated = stats.thinking_generated + stats.answer_generated
            phases.append(
                {
                    "run": label,
                    "answer_requests": stats.answer_requests,
                    "generated_tokens": generated,
                    "work": counting.work.as_dict(),
                }
            )
        else:
            seconds = separate[label] = rig.seconds([label], counting)[0]
        work[label] = counting.work
        print(f"  {label if isinstance(label, str) else f'b={label}'}: {seconds:.1f}s", flush=True)
    separate[largest] = sum(runs["largest"]) / len(runs["largest"])
    work[largest] = work.pop("largest")
    return {"runs": runs, "separate": separate, "phases": phases, "work": work}


def _overhead(rig: _Rig, budget: int) -> tuple[float, float]:
    """Our whole path for one budget (requests, splitting, storing, grading)
    against raw LLM.generate replaying exactly the same requests, alternated
    to cancel drift: (ours, raw) seconds."""
    from bench.grading.runtime.pool import GradingPool
    from bench.run.records import build_row
    from bench.run.store import RunStore

    engine, cfg = rig.engine, rig.cfg
    recorder = CountingEngine(engine)
    rig.seconds([budget], recorder)
    replay = recorder.requests
    graders = {t: s.grader_name for t, s in rig.specs.items()}

    work: dict[str, Work] = {}

    def ours() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            engine.reset_prefix_cache()
            pool = GradingPool(1)
            counting = CountingEngine(engine)
            started = time.perf_counter()
            results, _ = rig.strategy.run(counting, Job.of(rig.prompts, [budget]))
            work["ours"] = counting.work
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
        done = Work()
        started = time.perf_counter()
        for requests in replay.values():  # all chains, then all answers: two raw batches
            params = [engine.sampling_params(r) for r in requests]
            done += raw_work(engine.raw_generate([r.prompt_ids for r in requests], params))
        took = time.perf_counter() - started
        work["raw"] = done
        return took

    totals = {ours: 0.0, raw: 0.0}
    for order in ((raw, ours), (ours, raw)):
        for fn in order:
            totals[fn] += fn()
    return totals[ours], totals[raw], work


ENGINE_RATIOS = ("sweep_reuse_ratio", "largest_budget_ratio", "engine_overhead_ratio")


def measure(problems: int, overrides: list[str], repeat: int = 1) -> dict[str, Any]:
    """sweep_reuse_ratio, largest_budget_ratio and engine_overhead_ratio on one
    engine, each beside its floor; with repeat > 1, each pair `repeat` times
    and the median and range of every ratio."""
    rig = _rig(problems, overrides)
    budgets = list(rig.cfg.budget.tokens)
    print(f"perf: {len(rig.prompted)} prompts, budgets {budgets}", flush=True)
    rig.strategy.run(
        rig.engine, Job.of(rig.prompts[:4], budgets[:1])
    )  # warm the kernels on real shapes
    costs, cost_details = token_costs(rig.engine, rig.prompts)
    print(
        f"  per token: prefill {costs.prefill_s * 1e3:.3f} ms, decode {costs.decode_s * 1e3:.3f} ms;"
        f" per step: {costs.step_s * 1e3:.2f} ms + {costs.request_s * 1e3:.3f} ms a request alive",
        flush=True,
    )
    rounds = []
    for index in range(repeat):
        if repeat > 1:
            print(f"  round {index + 1} of {repeat}", flush=True)
        rounds.append(_engine_round(rig, budgets, costs))
    rig.engine.close()
    result = summarize_rounds(rounds, ENGINE_RATIOS)
    result["details"] = rounds[-1]["details"] | {
        "engine_start_seconds": rig.engine.start_seconds,
        "token_costs": cost_details,
        "rounds": len(rounds),
    }
    return result


def summarize_rounds(rounds: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Each ratio's median over rounds, its range, and the same for its floor
    and measured / floor (one round: the values themselves)."""
    out: dict[str, Any] = {}
    for name in names:
        stem = name.removesuffix("_ratio")
        keys = (name, f"{stem}_floor", f"{stem}_vs_floor")
        keys += (f"{stem}_step_floor", f"{stem}_vs_step_floor")
        for key in keys:
            if any(key not in r for r in rounds):
                continue  # a step floor where a side has no step counts
            values = sorted(r[key] for r in rounds)
            out[key] = round(statistics.median(values), 4)
            if len(values) > 1:
                out[f"{key}_range"] = [values[0], values[-1]]
    return out


def _engine_round(rig: _Rig, budgets: list[int], costs: TokenCosts) -> dict[str, Any]:
    reuse = _reuse_against_separate(rig, budgets)
    runs, separate, work = reuse["runs"], reuse["separate"], reuse["work"]
    reuse_seconds = sum(runs["reuse"]) / len(runs["reuse"])
    overhead_budget = budgets[len(budgets) // 2]
    ours_seconds, raw_seconds, overhead_work = _overhead(rig, overhead_budget)
    print(
        f"  overhead at b={overhead_budget}: ours {ours_seconds:.1f}s vs raw {raw_seconds:.1f}s",
        flush=True,
    )
    all_separate = sum((work[b] for b in budgets), Work())
    ratios = {
        "sweep_reuse": (reuse_seconds / sum(separate.values()), work["reuse"], all_separate),
        "largest_budget": (
            reuse_seconds / separate[max(budgets)],
            work["reuse"],
            work[max(budgets)],
        ),
        "engine_overhead": (
            ours_seconds / raw_seconds,
            overhead_work["ours"],
            overhead_work["raw"],
        ),
    }
    out: dict[str, Any] = {}
    for stem, (measured, a, b) in ratios.items():
        against = read_against(measured, floor_ratio(a, b, costs))
        out[f"{stem}_ratio"] = round(measured, 4)
        out[f"{stem}_floor"] = against["floor"]
        out[f"{stem}_vs_floor"] = against["vs_floor"]
        step_floor = step_floor_ratio(a, b, costs)
        if step_floor is not None:  # both sides ran through our stream (raw runs do not)
            by_steps = read_against(measured, step_floor)
            out[f"{stem}_step_floor"] = by_steps["floor"]
            out[f"{stem}_vs_step_floor"] = by_steps["vs_floor"]
    engine = rig.engine
    out["details"] = {
        "problems": len(rig.prompted),
        "budgets": budgets,
        "model": rig.cfg.model.name,
        "engine": engine.describe(),
        "reuse_seconds": [round(s, 3) for s in runs["reuse"]],
        "largest_seconds": [round(s, 3) for s in runs["largest"]],
        "runs": reuse["phases"],
        "separate_seconds": {str(b): round(s, 3) for b, s in separate.items()},
        "overhead_budget": overhead_budget,
        "overhead_ours_seconds": round(ours_seconds, 3),
        "overhead_raw_seconds": round(raw_seconds, 3),
        "work": {str(label): w.as_dict() for label, w in work.items()}
        | {f"overhead_{k}": w.as_dict() for k, w in overhead_work.items()},
    }
    return out
