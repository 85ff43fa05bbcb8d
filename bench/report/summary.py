"""The results table printed at the end of a sweep (and by `bench show`,
`bench report`, `bench compare`): one line per model x task x strategy x
budget with accuracy and its interval, mean thinking tokens, the share of
chains cut by the budget, and cost; the best cost-adjusted point marked.

It reads the files a run wrote (scaling.csv, report/cost.csv, records'
hit_budget), never recomputes a table, so the terminal and the files agree.
Plain text that pastes into an issue or a chat; `as_json` for scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.metrics import GROUP

KEYS = GROUP


def summary_rows(run_dir: Path) -> list[dict[str, Any]]:
    """One dict per model x task x strategy x budget (single-sample accuracy)."""
    run_dir = Path(run_dir)
    scaling_path = run_dir / "scaling.csv"
    if not scaling_path.is_file():
        return []
    scaling = pd.read_csv(scaling_path)
    if "method" in scaling:
        scaling = scaling[scaling["method"] == "sample"]
    rows = scaling[[*KEYS, "n", "accuracy", "ci_low", "ci_high", "mean_thinking_tokens"]]
    records = run_dir / "records.parquet"
    if records.is_file():
        cut = pd.read_parquet(records, columns=[*KEYS, "hit_budget"])
        share = cut.groupby(KEYS)["hit_budget"].mean().rename("share_cut").reset_index()
        rows = rows.merge(share, on=KEYS, how="left")
    cost_path = run_dir / "report" / "cost.csv"
    if cost_path.is_file():
        cost = pd.read_csv(cost_path)[[*KEYS, "usd", "usd_per_correct", "pareto"]]
        rows = rows.merge(cost, on=KEYS, how="left")
    out = rows.to_dict("records")
    _mark_best(out)
    return out


def _mark_best(rows: list[dict[str, Any]]) -> None:
    """The best cost-adjusted point of each model x task x strategy: the
    cheapest one whose accuracy is within the best one's interval."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        row["best"] = False
        groups.setdefault((row["model"], row["task"], row["strategy"]), []).append(row)
    for members in groups.values():
        top = max(members, key=lambda r: r["accuracy"])
        fine = [r for r in members if r["accuracy"] >= top["ci_low"]]
        cost = "usd" if all(pd.notna(r.get("usd")) for r in fine) else "mean_thinking_tokens"
        min(fine, key=lambda r: (r[cost], -r["accuracy"]))["best"] = True


LEGEND = "* the cheapest budget within the best accuracy's 95% interval"


def format_table(rows: list[dict[str, Any]], title: str = "", legend: bool = True) -> str:
    """Aligned plain text; the best cost-adjusted point of each group starred
    (`legend=False` leaves the key to the caller's closing line)."""
    if not rows:
        return f"{title}: no graded records yet" if title else "no graded records yet"
    headers = ["model", "task", "strategy", "budget", "accuracy (95% CI)", "thinking", "cut", "US$"]
    lines = []
    for r in rows:
        usd = r.get("usd")
        lines.append(
            [
                str(r["model"]),
                str(r["task"]),
                str(r["strategy"]),
                str(r["budget"]) + (" *" if r.get("best") else ""),
                f"{r['accuracy']:.3f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})",
                f"{r['mean_thinking_tokens']:.1f}",
                f"{r['share_cut']:.0%}" if pd.notna(r.get("share_cut")) else "-",
                f"{usd:.2e}" if usd is not None and pd.notna(usd) else "-",
            ]
        )
    text = aligned(headers, lines)
    return "\n".join(([title] if title else []) + text + ([LEGEND] if legend else []))


def matched_compute_text(path: Path) -> str:
    """The report's matched_compute table (when it has one) as plain text: each
    dial's best accuracy within each total-token level; "" when absent."""
    path = Path(path)
    if not path.is_file():
        return ""
    table = pd.read_csv(path)
    if table.empty:
        return ""
    levels = [c for c in table.columns if c.startswith("<=")]
    rows = [
        [str(r["model"]), str(r["task"]), str(r["dial"])]
        + [f"{r[c]:.3f}" if pd.notna(r[c]) else "-" for c in levels]
        for _, r in table.iterrows()
    ]
    title = (
        "the dials at equal compute: best accuracy within N tokens per problem (policy + verifier)"
    )
    return "\n".join([title, *aligned(["model", "task", "dial", *levels], rows)])


def aligned(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Plain-text columns, left-aligned, two spaces apart: header line first."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]


def status_table(run_dir: Path) -> pd.DataFrame:
    """How the run's checks ended, per budget (code: the sandbox's status);
    empty where no grader kept a status."""
    from bench.analysis.grading_status import KEYS as STATUS_KEYS
    from bench.analysis.grading_status import status_counts

    path = Path(run_dir) / "records.parquet"
    if not path.is_file():
        return pd.DataFrame()
    import pyarrow.parquet as pq

    if "status" not in pq.read_schema(path).names:
        return pd.DataFrame()
    return status_counts(pd.read_parquet(path, columns=[*STATUS_KEYS, "status"]))


def run_table(run_dir: Path) -> str:
    """A run's results table, and how its checks ended where a grader kept statuses."""
    statuses = format_statuses(status_table(run_dir))
    return format_table(summary_rows(run_dir)) + (f"\n{statuses}" if statuses else "")


def format_statuses(table: pd.DataFrame) -> str:
    """The status counts as plain text ("" when there are none)."""
    if table.empty:
        return ""
    headers = [str(c) for c in table.columns]
    rows = [[str(v) for v in row] for row in table.itertuples(index=False)]
    return "\n".join(["how the checks ended (attempts per status):", *aligned(headers, rows)])


def as_json(rows: list[dict[str, Any]]) -> str:
    clean = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows]
    return json.dumps(clean, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def run_listing(root: Path) -> list[dict[str, Any]]:
    """One entry per run folder under `root`: name, model, suite, strategy,
    budgets, records, status (complete, partial, running with its pid,
    damaged with its problem), when it was made. Reads manifests only."""
    from bench.run.lock import holder
    from bench.run.manifest import Manifest
    from bench.run.store import DamagedRunError, read_manifest

    listing = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.is_symlink()):
        if not ((folder / "manifest.json").exists() or (folder / "generations").is_dir()):
            continue
        entry: dict[str, Any] = {"run": folder.name}
        try:
            manifest = Manifest.of(read_manifest(folder))
        except DamagedRunError as exc:
            entry["status"] = f"damaged: {exc.reason} (bench repair {folder})"
            listing.append(entry)
            continue
        config = manifest.config
        entry.update(
            model=config.model_name,
            suite=config.suite_name,
            strategy=config.strategy_name,
            budgets=",".join(str(b) for b in config.budgets),
            records=manifest.records,
            when=(manifest.created or "")[:16].replace("T", " "),
        )
        status = manifest.status or "no manifest"
        holding = holder(folder)
        if holding:
            status = f"running (pid {holding.get('pid')} on {holding.get('host')})"
        elif status == "running":
            status = "partial (stopped while running)"
        elif status in ("interrupted", "failed", "incomplete"):
            status = f"partial ({status})"
        entry["status"] = status
        listing.append(entry)
    return listing
