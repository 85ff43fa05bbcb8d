"""Run a sweep: expand it, skip what is stored, batch onto the engine, store, grade.

The model is the expensive setting and is fixed for one sweep; budgets and
samples vary inside one engine. The whole sweep goes to the engine as one
running batch (no Python loop around `generate`); finished problems are
stored and graded every `store_interval_s` seconds while the rest run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import strategies
from bench.config.checks import parse_shard
from bench.config.engines import traits
from bench.config.identity import config_identity
from bench.config.schema import (
    Config,
    ConfigError,
    apply_thinking_mode,
    record_model_name,
    to_container,
)
from bench.engines import make_engine, watchdog
from bench.engines.log import engine_log
from bench.engines.reward import make_reward_engine
from bench.errors import Terminated
from bench.grading import preflight as grading_preflight
from bench.grading.runtime.pool import GradingPool
from bench.grading.runtime.stage import GradingStage
from bench.report.outputs import scaling_tables
from bench.run import manifest as manifest_mod
from bench.run.folder import (
    check_run_dir_compatible,
    point_latest,
    prepare_run_dir,
    resolve_run_dir,
)
from bench.run.lock import RunLock
from bench.run.records import RecordKeys, build_row
from bench.run.store import (
    STORE_VERSION,
    RunStore,
    read_manifest,
    record_key,
)
from bench.strategies import Job, StrategyStats
from bench.sweep.compose import validate
from bench.sweep.end import budget_adherence, sandbox_note, verdict, write_run_outputs
from bench.sweep.prompts import (
    Prompted,
    build_prompts,
    chain_settings,
    check_context,
    job_of,
    load_suite,
)
from bench.sweep.verification import verify_stored
from bench.tasks import loader as tasks_mod

log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """What one invocation of a sweep has left to do, and where."""

    run_dir: Path
    store: RunStore
    stored: set[str]
    key_of: RecordKeys
    pending: list[tuple[Prompted, int]]  # (problem, repeat) with attempts missing
    job: Job  # what the strategy streams: pending[i] is job.problems[i]
    manifest: dict[str, Any]  # status "running" until the sweep ends
    previous_work: dict[str, Any]
    data_hash: str
    problems: int


class Sweep:
    """One configured sweep; `run()` does the work and returns the run directory."""

    def __init__(self, cfg: Config, reproduces: dict[str, Any] | None = None) -> None:
        validate(cfg)
        # A re-run of a manifest (bench sweep --from-manifest): its path and versions.
        self.reproduces = reproduces
        apply_thinking_mode(cfg)
        self.cfg = cfg
        self.plugin = strategies.get(cfg.strategy.name)
        self.config = to_container(cfg)
        # A reward model that scores the attempts (bench/sweep/verification.py): its
        # settings, and the step delimiter it splits by, decide the scores.
        self.verifier = self.plugin.reward_model(cfg)
        if self.verifier is not None:
            self.config["verifier"] = dataclasses.asdict(self.verifier) | {
                "step_delimiter": cfg.model.step_delimiter
            }
        self.identity = config_identity(self.config)
        self.verification: dict[str, Any] = {}  # the verification phase (manifest)
        self.reward_engine: Any = None  # a search's verifier, alive during generation
        self.budgets = list(cfg.budget.tokens)
        self.samples = cfg.strategy.n
        self.skipped_rows: list[str] = []
        self.specs: dict[str, tasks_mod.TaskSpec] = {}
        self.suite_hash = ""
        self.terminal: Any = None  # where the progress bar writes (engine_log)
        self.generated = 0  # problems this invocation sent to the engine
        self.grading: dict[str, Any] = {}  # the grading stage's timings (manifest)

    def _record_base(self, engine_info: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "model": cfg.model.source,
            "revision": cfg.model.revision,
            "engine": {k: engine_info.get(k) for k in ("kind", "version", "dtype", "device")},
            "chain": to_container(cfg.model) | {"name": None},
            "strategy": to_container(cfg.strategy),
            "seed": cfg.seed,
            "engine_seed": cfg.engine.seed,
        }

    def run(self) -> Path:
        cfg = self.cfg
        started = time.perf_counter()
        skipped: list[str] = []
        problems, specs = load_suite(cfg.suite, skipped)
        # The whole suite's fingerprint: every shard of it carries the same one.
        self.suite_hash = tasks_mod.problems_sha256(problems)
        shard = parse_shard(cfg.shard)
        if shard is not None:
            problems = tasks_mod.shard(problems, *shard)
            if not problems:
                raise ConfigError(
                    f"shard={cfg.shard} is empty: the suite has fewer problems than shards"
                )
        self.specs = specs
        if skipped:
            print(
                f"warning: skipped {len(skipped)} malformed row(s), first: {skipped[0]}", flush=True
            )
        self.skipped_rows = skipped
        self.plugin.check_engine(cfg.engine, cfg.model)
        # Before anything is generated: a grader that cannot give verdicts here
        # (a broken code sandbox) stops the sweep with one line, at no cost.
        grading_preflight({spec.grader_name for spec in specs.values()})
        run_dir = resolve_run_dir(cfg, self.identity)
        prepare_run_dir(cfg, run_dir)
        # One writer per run folder, held until the sweep ends (runlock.py); taken
        # before the engine starts, so a refused sweep costs nothing.
        with RunLock(run_dir, "bench sweep", wait=cfg.wait_for_lock):
            check_run_dir_compatible(run_dir, self.config)
            if traits(cfg.engine.kind).needs_watchdog:
                # Kills the engine's processes if this one is killed (SIGKILL leaves
                # vLLM's EngineCore running otherwise).
                watchdog.start(os.getpid())
            with engine_log(run_dir, cfg.verbose) as self.terminal:
                engine = make_engine(cfg.engine, cfg.model, native_budget=self.plugin.native_budget)
                try:
                    prompted = build_prompts(engine, problems, specs, cfg.model)
                    check_context(prompted, cfg)
                    engine_info = engine.describe()
                    return self._run_in(run_dir, problems, engine, prompted, engine_info, started)
                finally:
                    engine.close()
                    if self.reward_engine is not None:  # a search that stopped midway
                        self.reward_engine.close()

    def _run_in(
        self,
        run_dir: Path,
        problems: list[Any],
        engine: Any,
        prompted: list[Prompted],
        engine_info: dict[str, Any],
        started: float,
    ) -> Path:
        """The sweep's three phases: plan what is left, generate (grading
        beside it), finish (records, tables, manifest, report, verdicts)."""
        plan = self._plan(run_dir, problems, prompted, engine_info)
        stats = StrategyStats()
        self._generate(plan, engine, stats)
        if self.verifier is not None:
            self._verify(plan, problems)
        return self._finish(plan, engine, engine_info, stats, started)

    def _plan(
        self,
        run_dir: Path,
        problems: list[Any],
        prompted: list[Prompted],
        engine_info: dict[str, Any],
    ) -> _Plan:
        """What is left to generate (a resume skips stored attempts), with each
        entry's seed and answer settings; the manifest says the run is running."""
        cfg = self.cfg
        key_of = RecordKeys(self._record_base(engine_info), cfg.seed)
        store = RunStore(run_dir)
        stored = store.stored_keys()
        # One entry per problem and repeat (seed) with anything left to generate
        # (a strategy that stores problems whole, and may keep fewer than n
        # attempts, has a problem stored once its sample 0 is).
        samples = range(1) if self.plugin.whole_problems else range(self.samples)
        pending = [
            (p, r)
            for r in range(cfg.repeats)
            for p in prompted
            if any(key_of(p, s, b, r) not in stored for s in samples for b in self.budgets)
        ]
        # Engine work of earlier invocations of this run (a resume adds to it):
        # reports price attempts by the run's engine seconds per token.
        previous_work = manifest_mod.Manifest.of(read_manifest(run_dir)).engine_work
        data_hash = tasks_mod.problems_sha256(problems)
        manifest = self._manifest(engine_info, data_hash, len(problems), status="running")
        manifest["engine_work"] = previous_work  # kept if this invocation dies
        store.write_manifest(manifest)
        if pending:  # a resumed run with nothing left says so in its last line
            print(
                f"run: {run_dir} ({len(problems)} problems, {len(pending)} to generate, "
                f"budgets {self.budgets}, {self.samples} sample(s))",
                flush=True,
            )
        self.generated = len(pending)
        seeds = [
            int(record_key({"seed": cfg.seed + r, "problem": p.problem.problem_id})[:8], 16)
            for p, r in pending
        ]
        prompted = [p for p, _ in pending]
        job = job_of(prompted, self.budgets, self.samples, seeds, self.plugin.messages)
        return _Plan(
            run_dir, store, stored, key_of, pending, job, manifest, previous_work,
            data_hash, len(problems),
        )  # fmt: skip

    def _generate(self, plan: _Plan, engine: Any, stats: StrategyStats) -> None:
        """Stream every pending problem through the engine; store finished ones
        and hand them to the grading stage; wait for the last verdicts."""
        cfg, store = self.cfg, plan.store
        strategy = self.plugin.build(chain_settings(cfg.model, cfg.strategy), cfg.model)
        if self.plugin.searches and plan.pending:
            # A search scores partial chains as it goes: its verifier runs
            # beside the policy (and scores the finished attempts afterwards).
            self.reward_engine = make_reward_engine(self.verifier, cfg.engine)
            strategy.attach(self.reward_engine)
        if plan.pending and hasattr(engine, "start"):
            # Started outside the strategy's timed span (its stats.seconds):
            # a start of ~10 s inside it made a short run's tokens look dear.
            engine.start()
        graders = {name: spec.grader_name for name, spec in self.specs.items()}
        # Graded beside generation (grading/runtime/stage.py): the engine loop only
        # stores finished attempts and hands the part over.
        stage = GradingStage(plan.run_dir, graders, cfg.grading_workers, cfg.grading_timeout_s)
        # What the stage did not get: attempts of earlier invocations, and the one
        # part of a sweep that ended before its first hand-over.
        pool = GradingPool(cfg.grading_workers, cfg.grading_timeout_s)
        buffer: list[dict[str, Any]] = []

        def flush(final: bool = False) -> None:
            part = store.append_generations(buffer)
            # A sweep that ends before its first hand-over never starts the
            # stage: its one part is graded below, with nothing left to overlap.
            if not (final and stage.proc is None):
                stage.submit(part, len(buffer))
            buffer.clear()

        def due(since: float) -> bool:
            """Store every store_interval_s; while the grading stage waits for
            work, four times as often, so it keeps pace and little is left at the end."""
            return since >= cfg.store_interval_s or (
                since >= cfg.store_interval_s / 4 and stage.idle()
            )

        try:
            with tqdm(
                total=len(plan.pending),
                desc="problems",
                unit="problem",
                disable=not cfg.engine.show_progress or not plan.pending,
                file=self.terminal,
            ) as bar:
                last_store = span_start = time.monotonic()
                for results in self._stream(plan, engine, strategy, stats):
                    buffer.extend(self._new_rows(plan, results, engine.token_source))
                    bar.update(1)
                    if due(time.monotonic() - last_store):
                        flush()
                        last_store = time.monotonic()
                        bar.set_postfix_str(stage.progress())
                flush(final=True)
            generated_at = time.monotonic()
            # Free the engine (accelerator memory, its cores) while the last
            # verdicts come in; its request report stays readable.
            engine.close()
            self._last_verdicts(stage, span_start, generated_at)
            leftovers = store.ungraded()
            if not leftovers.empty:
                store.append_grades(pool.grade(leftovers.to_dict("records"), graders))
        except BaseException as exc:
            # Whatever finished is whole: keep it (ungraded; a re-run grades it).
            stage.abort()
            store.append_generations(buffer)
            self._stopped(plan, exc)
            raise
        finally:
            stage.abort()  # after finish(): already gone
            pool.close()
            engine.close()  # on failure too (closing twice is harmless; the caller closes it too)

    def _verify(self, plan: _Plan, problems: list[Any]) -> None:
        """The reward model scores every stored attempt it has not scored, one
        batch per budget; its engine starts after the policy's has closed."""
        cfg = self.cfg
        questions = {(p.task, p.problem_id): p.question for p in problems}
        reward_engine = self.reward_engine or make_reward_engine(self.verifier, cfg.engine)
        try:
            self.verification = verify_stored(
                plan.store,
                reward_engine,
                self.verifier,
                questions,
                cfg.model.step_delimiter or "",
                cfg.strategy.step_aggregate,
                show=cfg.engine.show_progress,
                answer_cues=[*cfg.model.thinking_end, cfg.model.forced_answer],
            )
        finally:
            reward_engine.close()
            self.reward_engine = None

    def _new_rows(self, plan: _Plan, results: list[Any], token_source: str) -> list[dict[str, Any]]:
        """One problem's finished attempts as rows, but those already stored.
        `token_source`: where the token counts come from (the engine's ids, or,
        from a server without them, logprobs or local encoding)."""
        model = record_model_name(self.cfg.model)
        rows = []
        for result in results:
            p, repeat = plan.pending[result.prompt_index]
            key = plan.key_of(p, result.attempt.sample, result.attempt.budget, repeat)
            if key in plan.stored:
                continue
            plan.stored.add(key)
            rows.append(
                build_row(key, p, result, model, self.cfg.strategy.name, token_source, repeat)
            )
        return rows

    def _last_verdicts(self, stage: GradingStage, span_start: float, generated_at: float) -> None:
        """Wait for the stage's last verdicts; keep the timings bench perf compares."""
        stage.finish(self.terminal, show=self.cfg.engine.show_progress)
        self.grading = {
            "busy_seconds": round(stage.busy_seconds, 3),
            "generate_seconds": round(generated_at - span_start, 3),
            "generate_and_grade_seconds": round(time.monotonic() - span_start, 3),
            "graded_in_stage": stage.graded,
        }

    def _stream(self, plan: _Plan, engine: Any, strategy: Any, stats: StrategyStats):
        if not plan.pending:
            return iter(())
        return strategy.stream(engine, plan.job, stats)

    def _stopped(self, plan: _Plan, exc: BaseException) -> None:
        """The manifest says the run stopped, not that it is still running."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        plan.manifest["status"] = "interrupted" if interrupted else "failed"
        with contextlib.suppress(OSError):
            plan.store.write_manifest(plan.manifest)
        if interrupted:
            how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            print(
                f"\n{how}; what finished is stored in {plan.run_dir}. "
                "Re-run the same command to resume.",
                flush=True,
            )

    def _finish(
        self,
        plan: _Plan,
        engine: Any,
        engine_info: dict[str, Any],
        stats: StrategyStats,
        started: float,
    ) -> Path:
        """Records, adherence, tables and the final manifest; the report; then
        the verdict on requests and budget adherence."""
        cfg, run_dir = self.cfg, plan.run_dir
        records = plan.store.write_records()
        adherence = budget_adherence(records, self.budgets, cfg.strategy.name)
        tables = scaling_tables(records, cfg.strategy.subset_draws)
        requests = engine.request_report()
        failures = Counter((requests or {}).get("failed") or {})
        status = "incomplete" if failures else "complete"
        manifest = self._manifest(engine_info, plan.data_hash, plan.problems, status=status)
        if requests is not None:
            manifest["engine_requests"] = requests
        manifest.update(
            records=len(records),
            adherence=adherence,
            engine_start_seconds=getattr(engine, "start_seconds", None),
            engine_work=manifest_mod.add_engine_work(plan.previous_work, stats.__dict__),
            grading=self.grading,
            **({"verification": self.verification} if self.verification else {}),
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        # The records are complete before any table or figure is drawn: a disk
        # that fills up while drawing them leaves a complete run, not a "running" one.
        plan.store.write_manifest(manifest)
        write_run_outputs(plan.store, records, manifest, tables, cfg.plots, cfg.report)
        point_latest(run_dir)
        verdict(cfg, run_dir, failures, adherence, engine_info)
        return run_dir

    def _manifest(
        self, engine_info: dict[str, Any], data_hash: str, problems: int, status: str
    ) -> dict[str, Any]:
        return {
            "status": status,
            "store_version": STORE_VERSION,
            "identity": self.identity,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "config": self.config,
            "problems": problems,
            "data_sha256": data_hash,
            "suite_sha256": self.suite_hash,
            "shard": self.cfg.shard,
            "process": {"pid": os.getpid(), "parent": os.getppid()},
            "skipped_rows": {"count": len(self.skipped_rows), "first": self.skipped_rows[:10]},
            "sandbox": sandbox_note(self.specs),
            "engine": engine_info,
            "seeds": {"run": self.cfg.seed, "engine": self.cfg.engine.seed},
            "versions": manifest_mod.package_versions(),
            # A re-run of a manifest: which one, and the versions it recorded.
            **({"reproduces": self.reproduces} if self.reproduces else {}),
            "hardware": manifest_mod.hardware(),
            "git_revision": manifest_mod.git_revision(),
        }


def run_sweep(cfg: Config) -> Path:
    return Sweep(cfg).run()
