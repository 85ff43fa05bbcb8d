"""Accuracy against thinking tokens: one line per model x strategy, with a band."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def accuracy_vs_thinking(scaling: pd.DataFrame, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    for (model, task, strategy), group in scaling.groupby(["model", "task", "strategy"]):
        group = group.sort_values("budget")
        x = group["mean_thinking_tokens"].clip(lower=1)
        label = f"{model} · {strategy}" + (f" · {task}" if scaling["task"].nunique() > 1 else "")
        (line,) = ax.plot(x, group["accuracy"], marker="o", label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=line.get_color(), alpha=0.18)
        for xi, yi, budget in zip(x, group["accuracy"], group["budget"], strict=True):
            ax.annotate(
                f"b={budget}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=6
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("mean thinking tokens (log2)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "Accuracy vs thinking tokens")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
