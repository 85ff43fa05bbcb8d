"""`bench report` / `bench compare`: one self-contained page per report.

report/index.html holds every table and figure (images inlined, no external
files or scripts), what was run, whether it is complete, and how to
reproduce it; report/README.md has the same tables in Markdown beside the
figures (PNG and SVG) and the CSV / LaTeX tables.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from bench.analysis.compare import matched_cost_verdicts, paired_by, paired_comparison
from bench.analysis.cost import cost_table, cost_to_target, pareto_frontier, price_records
from bench.config.schema import record_model_name
from bench.report import plots
from bench.report.analyses import analysis_tables
from bench.report.outputs import ScalingTables, scaling_tables
from bench.report.tables import to_markdown, write_table
from bench.run.manifest import Manifest, RunConfig
from bench.run.store import write_text_atomic

REPORT_DIR = "report"


@dataclass
class RunInfo:
    """What a report needs from one run: its folder, manifest and record count."""

    run_dir: Path
    manifest: Manifest  # a manifest dict is read as one
    records: int = 0

    def __post_init__(self) -> None:
        self.manifest = Manifest.of(self.manifest)

    @property
    def config(self) -> RunConfig:
        return self.manifest.config

    @property
    def expected(self) -> int | None:
        """Attempts a complete run has: problems x budgets x samples x repeats."""
        problems, cfg = self.manifest.problems, self.config
        if not problems or not cfg.raw:
            return None
        return problems * len(cfg.budgets) * cfg.samples * cfg.repeats

    @property
    def partial(self) -> bool:
        expected = self.expected
        return not self.manifest.complete or (expected is not None and self.records < expected)


@dataclass
class Report:
    out_dir: Path
    title: str
    runs: list[RunInfo]
    records: pd.DataFrame
    pricing: dict[str, Any]
    # The run's scaling tables when already computed (they need no prices);
    # computed here otherwise.
    tables: ScalingTables | None = None
    subset_draws: int = 1000
    files: list[str] = field(default_factory=list)


def run_costs(runs: list[RunInfo]) -> dict[str, dict[str, Any]]:
    """model -> device, devices and parameters, from the manifests."""
    info = {}
    for run in runs:
        cfg = run.config
        model = record_model_name(cfg.section("model")) if cfg.section("model") else None
        work = run.manifest.engine_work
        tokens = sum(int(work.get(k) or 0) for k in ("thinking_generated", "answer_generated"))
        if model:
            info[model] = {
                "seconds_per_token": (work.get("seconds") or 0) / tokens if tokens else None,
                "device": run.manifest.engine.get("device") or cfg.engine_device or "cpu",
                "devices": cfg.devices,
                "parameters": cfg.model_parameters,
                "verifier_parameters": cfg.verifier_parameters,
            }
    return info


Table = tuple[str, str, pd.DataFrame]  # (file stem, caption, table)
Figure = tuple[str, str, Any]  # (file name, caption, draw(path))


def build(report: Report) -> list[str]:
    """Write every table, figure and the page; returns the files written."""
    out = report.out_dir
    out.mkdir(parents=True, exist_ok=True)
    priced = price_records(report.records, report.pricing, run_costs(report.runs))
    computed = report.tables or scaling_tables(priced, report.subset_draws)
    tables, cost = _core_tables(priced, computed)
    published: dict[str, Any] = {}
    for run in report.runs:
        published.update(run.config.section("published"))
    more_tables, more_figures, extra = analysis_tables(priced, computed.scaling, published, out)
    tables += more_tables
    report.files += [f"{REPORT_DIR}/{f}" for f in extra]
    for stem, caption, table in tables:
        report.files += [f"{REPORT_DIR}/{f}" for f in write_table(table, out, stem, caption)]
    figures = _core_figures(priced, computed, cost) + more_figures
    if computed.by_difficulty is not None:
        by_difficulty = computed.by_difficulty
        figures.append(
            (
                "accuracy_by_difficulty.png",
                "Accuracy by difficulty",
                lambda p: plots.accuracy_by_difficulty(by_difficulty, p),
            )
        )
    _add_routing(report, tables, figures)
    # Drawing is the slow, silent part of a report: a bar on a terminal, gone when done.
    for name, _, draw in tqdm(
        figures, desc="report figures", unit="figure", leave=False, disable=None
    ):
        draw(out / name)
        report.files += [f"{REPORT_DIR}/{name}", f"{REPORT_DIR}/{Path(name).with_suffix('.svg')}"]

    write_text_atomic(_html(report, tables, figures), out / "index.html")
    write_text_atomic(_markdown(report, tables, figures), out / "README.md")
    report.files += [f"{REPORT_DIR}/index.html", f"{REPORT_DIR}/README.md"]
    return report.files


def _core_tables(priced: pd.DataFrame, computed: ScalingTables) -> tuple[list[Table], pd.DataFrame]:
    """Scaling, cost, Pareto, cost-to-target, by difficulty and the paired
    comparison; with the cost table the figures draw."""
    cost = cost_table(priced)
    cost["pareto"] = pareto_frontier(cost) if not cost.empty else []
    tables: list[Table] = [
        (
            "scaling",
            "Accuracy per budget (and k), 95% bootstrap CI over problems",
            computed.scaling,
        ),
        ("cost", "Tokens, time, dollars and FLOPs per configuration", cost),
        (
            "pareto",
            "Configurations no other beats on both accuracy and cost",
            cost[cost["pareto"]] if not cost.empty else cost,
        ),
        ("cost_to_target", "Cheapest configuration reaching each accuracy", cost_to_target(cost)),
    ]
    if computed.by_difficulty is not None:
        tables.append(("by_difficulty", "Accuracy by difficulty level", computed.by_difficulty))
    paired = (
        paired_comparison(priced) if priced.groupby(["model", "strategy"]).ngroups > 1 else None
    )
    if paired is not None and not paired.empty:
        tables.append(
            (
                "paired",
                "B - A on the same problems (at equal budget, at A's cost and at B's)",
                paired,
            )
        )
        if computed.by_difficulty is not None:
            tables += _paired_by_difficulty(priced)
    return tables, cost


def _paired_by_difficulty(priced: pd.DataFrame) -> list[Table]:
    """The paired comparison within each difficulty level, and per level who
    wins at matched cost: where a dearer configuration starts to pay."""
    by = ("difficulty",)
    labelled = priced[priced["difficulty"].fillna("").ne("")]
    paired = paired_by(labelled, by, resamples=400)
    if paired.empty:
        return []
    verdicts = matched_cost_verdicts(paired, by)
    return [
        ("paired_by_difficulty", "B - A per difficulty level", paired),
        (
            "matched_cost_by_difficulty",
            "Per difficulty level, who wins at matched cost: A (cheaper and as good), "
            "B (buys accuracy A cannot reach at its cost), both, or tie",
            verdicts,
        ),
    ]


def _core_figures(
    priced: pd.DataFrame, computed: ScalingTables, cost: pd.DataFrame
) -> list[Figure]:
    suite = ", ".join(sorted(priced["task"].unique()))
    scaling = computed.scaling
    return [
        (
            "accuracy_vs_thinking.png",
            "Accuracy vs thinking tokens",
            lambda p: plots.accuracy_vs_thinking(
                scaling, p, f"Accuracy vs thinking tokens ({suite})"
            ),
        ),
        (
            "accuracy_vs_cost.png",
            "Accuracy vs cost, Pareto front dashed",
            lambda p: plots.accuracy_vs_cost(cost, p),
        ),
        (
            "thinking_lengths.png",
            "Thinking tokens used at each budget",
            lambda p: plots.thinking_lengths(priced, p),
        ),
        (
            "budget_adherence.png",
            "Cut by the budget vs ended by the model",
            lambda p: plots.budget_adherence(priced, p),
        ),
    ]


def _add_routing(report: Report, tables: list[Table], figures: list[Figure]) -> None:
    """`bench route` results for this run: their table and figure join the page."""
    routing_csv = report.out_dir.parent / "routing.csv"
    if not routing_csv.is_file() or len(report.runs) != 1:
        return
    routing = pd.read_csv(routing_csv)
    tables.append(("routing", "Routing policies on held-out problems (bench route)", routing))
    report.files += [f"{REPORT_DIR}/{f}" for f in write_table(routing, report.out_dir, "routing")]
    figures.append(
        ("routing.png", "Routing policies: accuracy vs cost", lambda p: plots.routing(routing, p))
    )


def _status_lines(report: Report) -> list[str]:
    lines = []
    for run in report.runs:
        expected = run.expected
        state = "PARTIAL" if run.partial else "complete"
        counts = f"{run.records} of {expected} attempts" if expected else f"{run.records} attempts"
        lines.append(f"{run.run_dir.name}: {state} ({counts}, status {run.manifest.status!r})")
    return lines


def _summary(run: RunInfo) -> list[tuple[str, str]]:
    cfg, m = run.config, run.manifest
    engine = m.engine
    return [
        ("run", run.run_dir.name),
        ("model", f"{cfg.model_name} ({cfg.model_source})"),
        (
            "engine",
            f"{engine.get('kind')} {engine.get('version', '')} on {engine.get('device')}, "
            f"{engine.get('dtype', '')}",
        ),
        (
            "suite",
            f"{cfg.suite_name}: {m.problems} problems, data sha256 {str(m.data_sha256)[:16]}…",
        ),
        ("strategy", str(cfg.strategy_name)),
        ("budgets", str(cfg.section("budget").get("tokens"))),
        ("created", str(m.created)),
        ("git", m.git_revision or ""),
        ("adherence", "ok" if m.adherence.get("ok") else str(m.adherence.get("problems"))),
        ("reproduce", f"bench sweep --from-manifest {run.run_dir}/manifest.json"),
    ]


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}
.partial{background:#fff3cd;border:1px solid #e0b400;padding:.5em 1em}
code{background:#f6f6f6;padding:1px 4px}
"""


def _html(report: Report, tables, figures) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>Written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} by thinkbench.</p>",
    ]
    partial = [run for run in report.runs if run.partial]
    status = "".join(f"<li>{html.escape(line)}</li>" for line in _status_lines(report))
    klass = " class='partial'" if partial else ""
    parts.append(f"<div{klass}><b>Runs</b><ul>{status}</ul>")
    if partial:
        parts.append(
            "<p>Partial runs are reported as they are: each point averages only the "
            "problems it has.</p>"
        )
    parts.append("</div>")
    parts.append(_chains_line(report))
    for run in report.runs:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td style='text-align:left'><code>{html.escape(v)}"
            "</code></td></tr>"
            for k, v in _summary(run)
        )
        parts.append(f"<h2>{html.escape(run.run_dir.name)}</h2><table>{rows}</table>")
    parts.append("<h2>Figures</h2>")
    for name, caption, _ in figures:
        data = base64.b64encode((report.out_dir / name).read_bytes()).decode()
        parts.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)} (<a href='{name}'>PNG</a>, "
            f"<a href='{Path(name).with_suffix('.svg')}'>SVG</a>)</figcaption></figure>"
        )
    parts.append("<h2>Tables</h2>")
    for stem, caption, table in tables:
        parts.append(
            f"<h3>{html.escape(caption)}</h3><p><a href='{stem}.csv'>CSV</a> · "
            f"<a href='{stem}.md'>Markdown</a> · <a href='{stem}.tex'>LaTeX</a></p>"
        )
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–"))
    prices = html.escape(str(report.pricing))
    parts.append(f"<h2>Prices used</h2><p><code>{prices}</code></p></body></html>")
    return "\n".join(parts)


def _chains_line(report: Report) -> str:
    """Where to read the chains: the static view beside this page when one was
    exported there (`bench compare` does), and the command that serves it."""
    command = "bench view " + " ".join(str(run.run_dir) for run in report.runs)
    link = ""
    if (Path(report.out_dir) / "view" / "index.html").is_file():
        link = "<a href='view/index.html'>Every chain, answer and verdict</a> (static view); or "
    return f"<p>{link}<code>{html.escape(command)}</code> serves them on this machine.</p>"


def _markdown(report: Report, tables, figures) -> str:
    lines = [f"# {report.title}", "", *[f"- {line}" for line in _status_lines(report)], ""]
    for run in report.runs:
        lines += [f"## {run.run_dir.name}", "", "| | |", "| --- | --- |"]
        lines += [f"| {k} | `{v}` |" for k, v in _summary(run)]
        lines.append("")
    for name, caption, _ in figures:
        lines += [f"![{caption}]({name})", ""]
    for stem, caption, table in tables:
        lines += [f"## {caption}", "", f"[CSV]({stem}.csv) · [LaTeX]({stem}.tex)", ""]
        lines += [to_markdown(table), ""]
    return "\n".join(lines)
