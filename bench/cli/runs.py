"""`bench report`, `grade`, `compare`, `route`, `merge`, `repair`, `show` and
`runs`: commands on stored runs (never the engine) that write tables,
figures and pages. Each takes its parsed arguments (cli.py builds the parser)
and raises UsageError for bad input; cli.py maps errors to exit codes."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from bench.config.schema import CONFIG_DIR, group_options
from bench.errors import UsageError
from bench.run.manifest import Manifest
from bench.run.store import write_atomic, write_text_atomic


def _run_dirs(paths: list[str]) -> list[Path]:
    dirs = []
    for raw in paths:
        path = Path(raw)
        if not (path / "generations").is_dir():
            raise UsageError(
                f"{raw} is not a run directory (no generations/ inside); "
                "pass a folder that bench sweep wrote, e.g. results/latest"
            )
        # results/latest is a link: name the run itself (relative, no machine paths).
        real = path.resolve()
        inside = real.is_relative_to(Path.cwd().resolve())
        dirs.append(real.relative_to(Path.cwd().resolve()) if inside else real)
    return dirs


def load_pricing(name: str | None, manifest: Manifest | dict | None = None) -> dict:
    """Prices: configs/pricing/NAME.yaml when named, else what the run's
    manifest recorded, else configs/pricing/default.yaml."""
    from omegaconf import OmegaConf

    from bench.config.schema import PricingConfig

    recorded = Manifest.of(manifest).config.pricing
    if name is None and recorded:
        return recorded
    name = name or "default"
    path = CONFIG_DIR / "pricing" / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(
            f"pricing {name!r} is not known; choose one of: {', '.join(group_options('pricing'))}"
        )
    data = OmegaConf.load(path)
    data.pop("defaults", None)
    merged = OmegaConf.merge(OmegaConf.structured(PricingConfig), data)
    return OmegaConf.to_container(merged, resolve=True)


def _page(
    out_dir: Path,
    title: str,
    run_dirs: list[Path],
    records,
    pricing_name: str | None,
    tables=None,
    manifest_updates: dict | None = None,
):
    from bench.report.page import Report, RunInfo, build
    from bench.run.store import read_manifest

    runs = []
    for run_dir in run_dirs:
        manifest = (read_manifest(run_dir) or {}) | (manifest_updates or {})
        count = int((records["run"] == str(run_dir)).sum()) if "run" in records else len(records)
        runs.append(RunInfo(run_dir, manifest, count))
    pricing = load_pricing(pricing_name, runs[0].manifest if runs else None)
    return build(
        Report(
            out_dir,
            title,
            runs,
            records.drop(columns=["run"], errors="ignore"),
            pricing,
            tables=tables,
        )
    )


def compare(args) -> int:
    """bench compare RUN... [--out DIR] [--pricing NAME]: one report over several runs."""
    import datetime as dt

    import pandas as pd

    from bench.analysis.cost import PricingError
    from bench.config.identity import incomparable
    from bench.run.store import RunStore, read_manifest

    run_dirs = _run_dirs(args.runs)
    if len(run_dirs) < 2:
        raise UsageError(
            "bench compare needs two or more RUN_DIRs, e.g. bench compare results/a results/b"
        )
    frames, manifests = [], {}
    for run_dir in run_dirs:
        records = RunStore(run_dir, create=False).records()  # read-only: nothing written
        if records.empty:
            raise UsageError(f"{run_dir} has no stored generations yet; nothing to compare")
        if records["correct"].isna().all():
            raise UsageError(f"{run_dir} has no graded records; run bench grade {run_dir} first")
        frames.append(records.assign(run=str(run_dir)))
        manifests[str(run_dir)] = read_manifest(run_dir) or {}
    problem = incomparable(manifests)
    if problem:
        raise UsageError(problem)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or Path("results") / f"compare-{stamp}")
    names = " vs ".join(d.name for d in run_dirs)
    viewed = _export_view(run_dirs, out, sum(len(f) for f in frames))
    try:
        files = _page(
            out,
            f"thinkbench comparison: {names}",
            run_dirs,
            pd.concat(frames, ignore_index=True),
            args.pricing,
        )
    except (PricingError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    from bench.report.summary import LEGEND, format_table, matched_compute_text, summary_rows

    rows = [row for run_dir in run_dirs for row in summary_rows(run_dir)]
    print(format_table(rows, legend=False))
    dials = matched_compute_text(out / "matched_compute.csv")
    if dials:
        print(dials)
    print(f"compared {len(run_dirs)} runs: {out / 'index.html'} ({len(files)} files); {LEGEND}")
    where = f" (a static copy: {viewed})" if viewed else ""
    print(f"every chain, answer and verdict: bench view {' '.join(map(str, run_dirs))}{where}")
    return 0


# The comparison exports the chain view beside its page up to this many
# attempts (about 10 s on 2 cores); larger runs are served by `bench view`.
EXPORT_ATTEMPTS = 20_000


def _export_view(run_dirs: list[Path], out: Path, attempts: int) -> Path | None:
    if attempts > EXPORT_ATTEMPTS:
        return None
    from bench.view.data import RunView
    from bench.view.export import export

    return export([RunView(d) for d in run_dirs], out / "view", progress=False)


def route(args) -> int:
    """bench route RUN... [--out DIR] [--pricing NAME] [--splits N] [--brief]: routing policies."""
    import pandas as pd

    from bench.analysis import routing
    from bench.analysis.cost import PricingError, price_records
    from bench.report import plots
    from bench.report.page import RunInfo, run_costs
    from bench.report.tables import to_markdown
    from bench.run.store import RunStore, read_manifest

    run_dirs = _run_dirs(args.runs)
    splits = args.splits
    if splits < 1:
        raise UsageError(f"--splits {splits}; give a positive number of held-out splits, e.g. 20")
    if not run_dirs:
        raise UsageError("bench route needs RUN_DIR..., e.g. bench route results/latest")
    frames, runs = [], []
    for run_dir in run_dirs:
        records = RunStore(run_dir, create=False).records()  # read-only: nothing written
        if records.empty:
            raise UsageError(f"{run_dir} has no stored generations yet; nothing to route")
        if records["correct"].isna().all():
            raise UsageError(f"{run_dir} has no graded records; run bench grade {run_dir} first")
        frames.append(records)
        runs.append(RunInfo(run_dir, read_manifest(run_dir) or {}, len(records)))
    records = pd.concat(frames, ignore_index=True)
    try:
        pricing = load_pricing(args.pricing, runs[0].manifest)
        priced = price_records(records, pricing, run_costs(runs))
    except PricingError as exc:
        print(f"no prices ({exc}); routing on generated tokens instead", flush=True)
        priced = records
    tiers = routing.build_tiers(priced)
    if len(tiers.names) < 2:
        raise UsageError(
            f"routing needs two or more configurations; {run_dirs[0]} has only {tiers.names}; "
            "sweep several budgets, strategies or models"
        )
    table = routing.evaluate(tiers, splits=splits)
    out = Path(args.out or run_dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(lambda t: table.to_csv(t, index=False, float_format="%.6g"), out / "routing.csv")
    plots.routing(table, out / "routing.png")
    text = routing.verdict(table)
    choices = routing.difficulty_choices(tiers, splits=splits)
    tasks = records["task"].dropna().unique()
    tiered = routing.tiered_verdict(table, choices, str(tasks[0]) if len(tasks) == 1 else "")
    written = ["routing.csv", "routing.png", "routing.md"]
    sections = ["# Routing", *([tiered] if tiered else []), text, to_markdown(table)]
    if not choices.empty:
        write_atomic(
            lambda t: choices.to_csv(t, index=False, float_format="%.6g"),
            out / "routing_by_difficulty.csv",
        )
        written.append("routing_by_difficulty.csv")
        sections += ["## Where the difficulty router sends each level", to_markdown(choices)]
    write_text_atomic("\n\n".join(sections) + "\n", out / "routing.md")
    from bench.report.summary import format_table, summary_rows

    if not args.brief:
        print(format_table([row for run_dir in run_dirs for row in summary_rows(run_dir)]))
    print(text)
    print(f"{out}: {', '.join(written)} ({len(table)} policies, {len(tiers.names)} tiers)")
    if tiered:
        print(tiered)
    return 0


def _print_change_reasons(changed: list[dict], old_answers: dict, generations) -> None:
    """One line per grader rule that moved verdicts, with the direction."""
    from collections import Counter

    from bench.grading.changes import change_reason

    rows = generations.set_index("key")
    counts: Counter = Counter()
    for grade in changed:
        row = rows.loc[grade["key"]]
        reason = change_reason(
            old_answers.get(grade["key"]), grade["answer"], str(row["gold"]), row["answer_text"]
        )
        counts[(reason, "now correct" if grade["correct"] else "now wrong")] += 1
    for (reason, direction), count in sorted(counts.items()):
        print(f"  {reason}: {count} {direction}")


def _regrade(store, run_dir: Path, generations, write: bool, regrade: bool):
    """Grade `generations`; store the verdicts when `write` (this command holds
    the run's lock), else keep them in memory. Returns the new grades."""
    from bench.grading.runtime.pool import GradingPool
    from bench.tasks.loader import load_spec

    old = store.grades()
    before = {} if old.empty else dict(zip(old["key"], old["correct"], strict=True))
    old_answers = {} if old.empty else dict(zip(old["key"], old["answer"], strict=True))
    graders = {t: load_spec(t).grader_name for t in generations["task"].unique()}
    timeout_s = Manifest.of(store.manifest()).config.grading_timeout_s if regrade else None
    pool = GradingPool(timeout_s=timeout_s or 5.0)
    try:
        grades = pool.grade(generations.to_dict("records"), graders)
    finally:
        pool.close()
    if write:
        store.append_grades(grades)
    changed = [g for g in grades if g["key"] in before and before[g["key"]] != g["correct"]]
    gained = sum(g["correct"] for g in changed)
    print(
        f"{run_dir}: graded {len(grades)} attempt(s)"
        + (
            f"; {len(changed)} verdict(s) changed ({gained} now correct, "
            f"{len(changed) - gained} now wrong)"
            if regrade
            else ""
        )
        + ("" if write else " (in memory: a sweep is writing this run)")
    )
    if regrade and changed:
        _print_change_reasons(changed, old_answers, generations)
    return grades


def report(args, regrade: bool = False) -> int:
    """bench report (read-only: never rewrites a sweep's manifest; while a sweep
    holds the run it writes only under RUN/report/) and bench grade (a writer:
    it takes the run's lock)."""
    import pandas as pd

    from bench.analysis.cost import PricingError
    from bench.report.outputs import scaling_tables, write_outputs
    from bench.run.lock import RunLock, RunLockedError
    from bench.run.store import RunStore, write_json_atomic
    from bench.sweep.end import budget_adherence

    wait = getattr(args, "wait", False)
    for run_dir in _run_dirs(args.runs):
        store = RunStore(run_dir, create=False)
        lock = RunLock(run_dir, "bench grade" if regrade else "bench report", wait=wait)
        try:
            lock.acquire()
        except RunLockedError:
            if regrade:
                raise
            lock = None  # a sweep is writing: read what is stored, write only the report
        try:
            if regrade and getattr(args, "unjudged", False):
                from bench.grading import verdict_statuses

                generations = store.unjudged(verdict_statuses())
            else:
                generations = store.generations() if regrade else store.ungraded()
            grades = []
            if not generations.empty:
                grades = _regrade(store, run_dir, generations, lock is not None, regrade)
            records = store.records()
            if grades and lock is None:  # merge the in-memory verdicts
                fresh = pd.DataFrame(grades).set_index("key")
                for column in (
                    *("answer", "correct", "vote_class", "grader", "correct_in_thinking"),
                    *("status", "detail"),
                ):
                    if column in records and column in fresh:
                        records[column] = records["key"].map(fresh[column]).fillna(records[column])
            if records.empty:
                raise UsageError(f"{run_dir} has no stored generations yet")
            settings = Manifest.of(store.manifest()).config
            draws = settings.subset_draws
            tables = scaling_tables(records, draws)
            outputs = []
            if lock is not None:  # no sweep is running: derived files may be rebuilt
                store.write_records()
                outputs = write_outputs(run_dir, tables)
            budgets = sorted(records["budget"].unique().tolist())
            strategy = settings.strategy_name
            adherence = budget_adherence(records, budgets, strategy)
            summary = {"records": len(records), "adherence": adherence}
            try:
                pages = _page(
                    run_dir / "report",
                    f"thinkbench report: {run_dir.name}",
                    [run_dir],
                    records,
                    args.pricing,
                    tables,
                    manifest_updates=summary,
                )
            except (PricingError, ValueError) as exc:
                raise UsageError(str(exc)) from None
            # What a report computes lives beside it, never in the sweep's manifest.
            write_json_atomic(summary, run_dir / "report" / "report.json")
        finally:
            if lock is not None:
                lock.release()
        from bench.report.summary import run_table

        print(run_table(run_dir))
        print(
            f"{run_dir}: {len(records)} records -> {', '.join(outputs) or 'report only'}; "
            f"report: {run_dir / 'report' / 'index.html'} ({len(pages)} files)"
        )
    return 0


def merge(args) -> int:
    """bench merge SHARD_RUN... --into DIR: join shard runs, then report on the whole."""
    from bench.run.merge import merge_runs

    into = merge_runs(_run_dirs(args.runs), Path(args.into))
    print(f"merged {len(args.runs)} shard(s) into {into}")
    return report(Namespace(runs=[str(into)], pricing=None, wait=False))


def repair(args) -> int:
    """bench repair RUN...: set damaged files aside so the next sweep regenerates them."""
    from bench.run.lock import RunLock
    from bench.run.store import RunStore

    for raw in args.runs:
        run_dir = Path(raw)
        if not (run_dir / "generations").is_dir() and not (run_dir / "grades").is_dir():
            raise UsageError(f"{raw} is not a run directory (no generations/ or grades/ inside)")
        with RunLock(run_dir, "bench repair"):
            moved = RunStore(run_dir, create=False).repair()
        for path, reason in moved:
            print(f"{path}: {reason} -> set aside in {run_dir / 'damaged'}")
        print(
            f"{run_dir}: {len(moved)} damaged file(s) set aside"
            + ("; re-run the sweep to regenerate what they held" if moved else "; nothing to do")
        )
    return 0


def show(args) -> int:
    """bench show RUN [--json]: the results table of a stored run (nothing recomputed)."""
    from bench.report.summary import (
        as_json,
        format_statuses,
        format_table,
        status_table,
        summary_rows,
    )

    run_dir = _run_dirs([args.run])[0]
    rows = summary_rows(run_dir)
    print(as_json(rows) if args.json else format_table(rows, str(run_dir)))
    if not args.json and (statuses := format_statuses(status_table(run_dir))):
        print(statuses)
    page = run_dir / "report" / "index.html"
    if not args.json and page.is_file():
        print(f"report: {page}")
    return 0


def runs(args) -> int:
    """bench runs [RESULTS_DIR] [--json]: the stored runs, one line each."""
    import json

    from bench.report.summary import aligned, run_listing

    root = Path(args.results_dir)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; pass the results_dir of your sweeps")
    listing = run_listing(root)
    if args.json:
        print(json.dumps(listing))
        return 0
    if not listing:
        print(f"{root}: no runs yet (bench sweep writes them here)")
        return 0
    headers = ["run", "model", "suite", "strategy", "budgets", "records", "status", "when"]
    table = [["" if entry.get(h) is None else str(entry[h]) for h in headers] for entry in listing]
    print("\n".join(aligned(headers, table)))
    return 0
