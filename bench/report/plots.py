"""Accuracy against thinking tokens: one line per model x strategy (x vote
method and k where several samples are combined), with a band.

The x-axis is thinking tokens per problem summed over the k samples used, so
thinking longer and sampling more sit on one axis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def accuracy_vs_thinking(scaling: pd.DataFrame, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    if "method" not in scaling:
        scaling = scaling.assign(method="sample", k=1)
    # k=1 of a vote is the plain per-sample accuracy: drawn once, as "sample".
    curves = scaling[(scaling["method"] == "sample") | (scaling["k"] > 1)]
    for (model, task, strategy, method, k), group in curves.groupby(
        ["model", "task", "strategy", "method", "k"]
    ):
        group = group.sort_values("budget")
        x = (group["mean_thinking_tokens"] * k).clip(lower=1)
        label = f"{model} · {strategy}" + (f" · {task}" if scaling["task"].nunique() > 1 else "")
        if method != "sample":
            label += f" · {method}@{k}"
        (line,) = ax.plot(x, group["accuracy"], marker="o", label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=line.get_color(), alpha=0.18)
        for xi, yi, budget in zip(x, group["accuracy"], group["budget"], strict=True):
            ax.annotate(
                f"b={budget}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=6
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("thinking tokens per problem, all samples used (log2)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "Accuracy vs thinking tokens")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
