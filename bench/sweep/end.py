"""The end of a sweep: the tables and figures, the report, and the verdict
(failed requests, broken budgets), each written so that what is stored
stays whole when a disk fills or a price is missing."""

from __future__ import annotations

import errno
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import strategies
from bench.analysis.adherence import adherence_summary
from bench.config.engines import OpenAIEngineConfig, traits
from bench.errors import AdherenceError, RequestsFailedError
from bench.report.outputs import ScalingTables, write_outputs
from bench.run.manifest import Manifest
from bench.run.store import DiskFullError, RunStore, write_json_atomic

if TYPE_CHECKING:
    from bench.config.schema import Config


def budget_adherence(records: Any, budgets: list[int], strategy: str | None) -> dict[str, Any]:
    """The adherence summary (analysis/adherence.py), held to exact cuts unless
    the strategy's budget is advisory: a chat API's knob (reasoning_effort is
    not even a number of tokens), where thinking past the budget is a loud
    warning, not a failed run. A strategy not installed here is held to exact cuts."""
    plugin = strategies.find(strategy)
    advisory = plugin is not None and plugin.advisory
    adherence = adherence_summary(records, budgets, exact_cuts=not advisory)
    adherence["advisory"] = advisory
    return adherence


def write_run_outputs(
    store: RunStore,
    records: Any,
    manifest: dict[str, Any],
    tables: ScalingTables,
    plots: bool,
    report: bool,
) -> None:
    """scaling.csv (and the curve unless `plots` is false), then the report."""
    run_dir = store.run_dir
    try:
        manifest["outputs"] = write_outputs(run_dir, tables, plots=plots)
        store.write_manifest(manifest)
        if report:
            write_report(run_dir, records, manifest, tables)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            errno.ENOSPC,
            f"disk full while writing the tables and figures of {run_dir}; its records are "
            f"complete: free some space, then run bench report {run_dir}",
        ) from exc


def verdict(
    cfg: Config,
    run_dir: Path,
    failures: Counter,
    adherence: dict[str, Any],
    engine_info: dict[str, Any],
) -> None:
    """Failed requests and broken budgets end the sweep with their errors
    (broken advisory budgets with a warning)."""
    advisory = adherence["advisory"]
    if failures:
        from bench.engines.http import describe_failures

        # vLLM's replicas are reached with engine=openai's defaults.
        retries = getattr(cfg.engine, "max_retries", OpenAIEngineConfig.max_retries)
        raise RequestsFailedError(
            f"{sum(failures.values())} request(s) failed after {retries} "
            f"retries ({describe_failures(failures)}); what finished is stored in {run_dir}: "
            "re-run the same command to retry the rest"
        )
    if not adherence["ok"] and advisory:
        print(
            f"WARNING: the server did not keep to the budgets ({cfg.model.budget_knob}): "
            f"{'; '.join(adherence['problems'])}",
            flush=True,
        )
    elif not adherence["ok"]:
        remote = traits(cfg.engine.kind).remote
        knob = (engine_info.get("budget_knob") or "") if remote else ""
        hint = f" (the server may ignore {knob.split()[0]})" if knob else ""
        raise AdherenceError(f"budget adherence failed: {adherence['problems']}{hint}")


def sandbox_note(specs: dict[str, Any]) -> str | None:
    """How generated code is isolated, for runs with code tasks; rlimits
    alone is recorded as a warning, never silently."""
    if not any(spec.grader == "code" for spec in specs.values()):
        return None
    from bench.grading.sandbox.execute import isolation

    tool = isolation()
    if tool == "rlimits":
        return "WARNING: rlimits only (no bubblewrap or unshare): no filesystem/network isolation"
    return tool


def write_report(
    run_dir: Path, records: Any, manifest: dict[str, Any], tables: ScalingTables
) -> None:
    """The full report (cost tables, all figures, index.html) beside the
    run; a report problem (a missing price) is reported, never fatal."""
    from bench.analysis.cost import PricingError
    from bench.report.page import Report, RunInfo, build

    run = RunInfo(run_dir, Manifest.of(manifest), len(records))
    pricing = run.config.pricing
    try:
        build(
            Report(
                run_dir / "report",
                f"thinkbench report: {run_dir.name}",
                [run],
                records,
                pricing,
                tables=tables,
            )
        )
    except PricingError as exc:
        print(f"report skipped: {exc}; then run bench report {run_dir}", flush=True)
        return
    summary = {"records": len(records), "adherence": manifest.get("adherence")}
    write_json_atomic(summary, run_dir / "report" / "report.json")
