"""Accuracy against thinking tokens: one line per model x strategy (x vote
method and k where several samples are combined), with a band.

The x-axis is thinking tokens per problem summed over the k samples used, so
thinking longer and sampling more sit on one axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.run.store import write_atomic


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "savefig.bbox": "tight"})
    return plt


def _save(fig: Any, path: Path) -> Path:
    """PNG for screens and the HTML page, SVG beside it for print."""
    fig.tight_layout()
    # Atomic: a full disk leaves the old figure or none, never half of one.
    write_atomic(lambda tmp: fig.savefig(tmp, format="png"), path)
    write_atomic(lambda tmp: fig.savefig(tmp, format="svg"), path.with_suffix(".svg"))
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def accuracy_vs_thinking(scaling: pd.DataFrame, path: Path, title: str = "") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    if "method" not in scaling:
        scaling = scaling.assign(method="sample", k=1)
    # k=1 of a vote is the plain per-sample accuracy: drawn once, as "sample".
    curves = scaling[(scaling["method"] == "sample") | (scaling["k"] > 1)]
    for (model, task, strategy, method, k), group in curves.groupby(
        ["model", "task", "strategy", "method", "k"]
    ):
        group = group.sort_values("budget")
        x = group["mean_thinking_tokens"] * k
        label = f"{model} · {strategy}" + (f" · {task}" if scaling["task"].nunique() > 1 else "")
        if method != "sample":
            label += f" · {method}@{k}"
        (line,) = ax.plot(x, group["accuracy"], marker="o", label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=line.get_color(), alpha=0.18)
        for xi, yi, budget in zip(x, group["accuracy"], group["budget"], strict=True):
            ax.annotate(
                f"b={budget}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=6
            )
    # Linear below 1 token: budget 0 (no thinking) is the curve's origin.
    ax.set_xscale("symlog", base=2, linthresh=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("thinking tokens per problem, all samples used (log2; 0 = no thinking)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "Accuracy vs thinking tokens")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def accuracy_vs_cost(cost: pd.DataFrame, path: Path, cost_column: str = "usd") -> Path:
    """Every configuration as a point; the Pareto front (cheapest for its
    accuracy) joined by a line."""
    from bench.analysis.cost import pareto_frontier

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    table = cost[cost[cost_column].notna() & (cost[cost_column] > 0)]
    for (model, strategy), group in table.groupby(["model", "strategy"]):
        ax.scatter(group[cost_column], group["accuracy"], s=18, label=f"{model} · {strategy}")
        for _, row in group.iterrows():
            ax.annotate(
                f"b={row['budget']}",
                (row[cost_column], row["accuracy"]),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=6,
            )
    if not table.empty:
        front = table[pareto_frontier(table, cost_column)].sort_values(cost_column)
        ax.plot(
            front[cost_column],
            front["accuracy"],
            color="black",
            lw=1,
            ls="--",
            label="Pareto front",
        )
        ax.set_xscale("log")
    ax.set_xlabel(
        "total cost of the run's attempts (US$, log)" if cost_column == "usd" else cost_column
    )
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Accuracy vs cost")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def accuracy_by_difficulty(by_difficulty: pd.DataFrame, path: Path) -> Path:
    """One line per difficulty level: where more thinking pays and where it is waste."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    for (model, task, strategy, level), group in by_difficulty.groupby(
        ["model", "task", "strategy", "difficulty"]
    ):
        group = group.sort_values("budget")
        (line,) = ax.plot(
            group["budget"],
            group["accuracy"],
            marker="o",
            label=f"{model} · {strategy} · {task} level {level}",
        )
        ax.fill_between(
            group["budget"], group["ci_low"], group["ci_high"], color=line.get_color(), alpha=0.12
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("thinking budget (tokens, log2)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Accuracy by difficulty")
    ax.legend(fontsize=6, loc="best")
    return _save(fig, path)


def thinking_lengths(records: pd.DataFrame, path: Path) -> Path:
    """How long the model thought at each budget (box per budget)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=150)
    budgets = sorted(records["budget"].unique())
    data = [records.loc[records["budget"] == b, "thinking_tokens"].to_numpy() for b in budgets]
    ax.boxplot(data, tick_labels=[str(b) for b in budgets], showfliers=True)
    ax.set_xlabel("thinking budget (tokens)")
    ax.set_ylabel("thinking tokens used")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title("Thinking length by budget")
    return _save(fig, path)


def budget_adherence(records: pd.DataFrame, path: Path) -> Path:
    """Share of attempts cut by the budget vs ended by the model, per budget."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=150)
    shares = records.groupby("budget")["finish"].value_counts(normalize=True).unstack(fill_value=0)
    bottom = None
    for finish in shares.columns:
        values = shares[finish].to_numpy()
        ax.bar([str(b) for b in shares.index], values, bottom=bottom, label=finish)
        bottom = values if bottom is None else bottom + values
    ax.set_xlabel("thinking budget (tokens)")
    ax.set_ylabel("share of attempts")
    ax.set_ylim(0, 1)
    ax.set_title("Cut by the budget vs ended by the model")
    ax.legend(fontsize=7)
    return _save(fig, path)


def flips(table: pd.DataFrame, overthinking: pd.DataFrame, path: Path) -> Path:
    """Answer flips between consecutive budgets over all problems: wrong to
    right above the axis, right to wrong below, per model x strategy; the
    overthinking threshold (where later flips turn net negative) dashed."""
    plt = _pyplot()
    overall = table[table["difficulty"] == "all"]
    configs = list(overall.groupby(["model", "task", "strategy"], sort=True))
    fig, axes = plt.subplots(
        len(configs), 1, figsize=(6.4, 2.4 * max(1, len(configs))), dpi=150, squeeze=False
    )
    for ax, ((model, task, strategy), group) in zip(axes[:, 0], configs, strict=False):
        labels = [f"{a}→{b}" for a, b in zip(group["from_budget"], group["to_budget"], strict=True)]
        ax.bar(labels, group["wrong_to_right"], color="#2a9d8f", label="wrong → right")
        ax.bar(labels, -group["right_to_wrong"], color="#e76f51", label="right → wrong")
        ax.axhline(0, color="#333", linewidth=0.6)
        mark = overthinking[
            (overthinking["model"] == model)
            & (overthinking["task"] == task)
            & (overthinking["strategy"] == strategy)
            & (overthinking["difficulty"] == "all")
        ]
        title = f"{model} · {strategy} · {task}"
        if not mark.empty and mark["threshold_budget"].iloc[0] != float("inf"):
            threshold = mark["threshold_budget"].iloc[0]
            position = list(group["from_budget"]).index(threshold)
            ax.axvline(position - 0.5, color="#333", linestyle="--", linewidth=0.8)
            title += f" · overthinking past {threshold:g}"
        ax.set_title(title)
        ax.set_ylabel("chains")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
    axes[-1, 0].set_xlabel("budget step (tokens)")
    return _save(fig, path)


def routing(table: pd.DataFrame, path: Path) -> Path:
    """Policies on accuracy vs cost: single configurations, cascades, the
    difficulty router and the oracle (the bound no routing rule can pass)."""
    plt = _pyplot()
    cost = next(c for c in table.columns if c.startswith("mean_cost_"))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    styles = {
        "single": ("o", 30),
        "cascade": ("^", 14),
        "difficulty": ("s", 30),
        "oracle": ("*", 120),
    }
    for policy, (marker, size) in styles.items():
        rows = table[table["policy"] == policy]
        if rows.empty:
            continue
        ax.scatter(rows[cost], rows["accuracy"], marker=marker, s=size, label=policy, alpha=0.8)
        ax.errorbar(
            rows[cost],
            rows["accuracy"],
            yerr=[rows["accuracy"] - rows["ci_low"], rows["ci_high"] - rows["accuracy"]],
            fmt="none",
            alpha=0.25,
        )
    if (table[cost] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel(f"mean cost per problem ({cost.removeprefix('mean_cost_')})")
    ax.set_ylabel("accuracy on held-out problems")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Routing policies")
    ax.legend(fontsize=7)
    return _save(fig, path)


def verifiers(table: pd.DataFrame, path: Path) -> Path:
    """Accuracy against tokens per problem (policy + verifier) at each run's
    largest budget: one line per method (pass@k, maj@k, bon@k, wbon@k) over k."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    largest = table.groupby(["model", "task", "strategy"])["budget"].transform("max")
    top = table[table["budget"] == largest]
    for (model, method, verifier), group in top.groupby(["model", "method", "verifier"]):
        group = group.sort_values("k")
        label = f"{model} · {method}@k" + (f" ({verifier})" if verifier != "-" else "")
        style = "--" if method == "pass" else "-"
        _accuracy_line(ax, group, label, style, alpha=0.15)
    _tokens_axes(ax, "Verifying vs sampling more, at the largest budget (pass@k: the bound)")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def _accuracy_line(ax: Any, group: pd.DataFrame, label: str, style: str, alpha: float) -> None:
    """Accuracy against total tokens per problem, its CI as a band."""
    (line,) = ax.plot(
        group["total_tokens_per_problem"], group["accuracy"], style, marker="o", label=label
    )
    ax.fill_between(
        group["total_tokens_per_problem"],
        group["ci_low"],
        group["ci_high"],
        color=line.get_color(),
        alpha=alpha,
    )


def _tokens_axes(ax: Any, title: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tokens per problem: policy + verifier (log2)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)


def strategies(table: pd.DataFrame, path: Path) -> Path:
    """Accuracy against total tokens per problem (policy + verifier): thinking
    longer as a line over budgets, sampling more and verifying over k at the
    largest budget, a search as a line over budgets at its n."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    config = ["model", "task", "strategy"]
    largest = table.groupby(config)["budget"].transform("max")
    single = table["method"] == "pass"
    varies = table.groupby([*config, "budget", "method"])["k"].transform("nunique") > 1
    over_k = varies & (table["budget"] == largest)
    searched = ~single & ~varies
    lines = [
        (f"{m} · {s}", g.sort_values("budget"))
        for (m, s), g in table[single].groupby(["model", "strategy"])
    ]
    lines += [
        (f"{m} · {s} {method}@k", g.sort_values("k"))
        for (m, s, method), g in table[over_k].groupby(["model", "strategy", "method"])
    ]
    lines += [
        (f"{m} · {s} ({method}, n={int(g['k'].max())})", g.sort_values("budget"))
        for (m, s, method), g in table[searched].groupby(["model", "strategy", "method"])
    ]
    for label, group in lines:
        _accuracy_line(ax, group, label, "-", alpha=0.12)
    _tokens_axes(ax, "Every strategy at matched compute")
    ax.legend(fontsize=6, loc="best")
    return _save(fig, path)
