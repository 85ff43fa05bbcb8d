"""What each record cost, and the tables built on it.

Per record: tokens (prompt, thinking, answer, verifier), engine seconds (the
run's measured engine time per generated token, times the tokens this
attempt generated: what the configuration would cost run on its own; a
sweep shares each chain's thinking across its budgets and pays less),
device-hours and their price for local
engines, the price of the same tokens at an API's rates where the pricing
config has them, and FLOPs = 2 x parameters x tokens processed (a forward
pass per token; prefix caching makes the real figure lower). Prices come
from the pricing config group, never from code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.metrics import GROUP

COST_COLUMNS = [
    "model",
    "task",
    "strategy",
    "budget",
    "n",
    "attempts",
    "accuracy",
    "mean_prompt_tokens",
    "mean_thinking_tokens",
    "mean_answer_tokens",
    "mean_verifier_tokens",
    "engine_seconds",
    "device_hours",
    "usd",
    "usd_per_correct",
    "usd_api",
    "flops",
    "price_basis",
]


class PricingError(ValueError):
    """A price the cost tables need is missing; the message names the config key."""


def price_records(
    records: pd.DataFrame, pricing: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """Records with cost columns. `runs` maps model name -> what the run's
    manifest says about it: device ("cpu"/"cuda"), devices (GPUs used) and
    parameters."""
    out = records.copy()
    for column in ("verifier_tokens", "discarded_tokens"):
        if column not in out:
            out[column] = 0
        out[column] = out[column].fillna(0)
    out["device_hours"] = 0.0
    out["usd"] = np.nan
    out["usd_api"] = np.nan
    out["flops"] = np.nan
    out["price_basis"] = ""
    for model, rows in out.groupby("model").groups.items():
        run = runs.get(model, {})
        device = run.get("device", "cpu")
        price = (pricing.get("device_hours") or {}).get(device)
        if price is None:
            raise PricingError(
                f"no price for device {device!r} (model {model}); "
                f"set pricing.device_hours.{device}.usd_per_hour"
            )
        generated = (
            out.loc[rows, "thinking_tokens"]
            + out.loc[rows, "answer_tokens"]
            + out.loc[rows, "discarded_tokens"]
        )
        if run.get("seconds_per_token"):
            out.loc[rows, "seconds"] = generated * float(run["seconds_per_token"])
        hours = out.loc[rows, "seconds"].fillna(0) / 3600 * max(1, int(run.get("devices", 1)))
        out.loc[rows, "device_hours"] = hours
        out.loc[rows, "usd"] = hours * float(price["usd_per_hour"])
        out.loc[rows, "price_basis"] = f"{device}-hours at ${price['usd_per_hour']}/h"
        processed = (
            out.loc[rows, "prompt_tokens"]
            + out.loc[rows, "thinking_tokens"]
            + out.loc[rows, "answer_tokens"]
            + out.loc[rows, "verifier_tokens"]
            + out.loc[rows, "discarded_tokens"]
        )
        parameters = run.get("parameters")
        if parameters:
            out.loc[rows, "flops"] = 2.0 * float(parameters) * processed
        api = (pricing.get("api") or {}).get(model)
        if api is not None:
            reasoning = api.get("reasoning_per_m")
            reasoning = api["output_per_m"] if reasoning is None else reasoning
            out.loc[rows, "usd_api"] = (
                out.loc[rows, "prompt_tokens"] * api["input_per_m"]
                + out.loc[rows, "thinking_tokens"] * reasoning
                + (out.loc[rows, "answer_tokens"] + out.loc[rows, "discarded_tokens"])
                * api["output_per_m"]
            ) / 1e6
    return out


def require_api_prices(records: pd.DataFrame, pricing: dict[str, Any]) -> None:
    """For API-priced comparisons: every model needs input and output prices."""
    for model in sorted(records["model"].unique()):
        if model not in (pricing.get("api") or {}):
            raise PricingError(
                f"no API price for model {model}; set pricing.api.{model}.input_per_m and "
                f"pricing.api.{model}.output_per_m (with source and date)"
            )


def cost_table(priced: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per model x task x strategy x budget: tokens, time, money, FLOPs.
    Means are per attempt; engine seconds, hours, dollars and FLOPs are totals."""
    keys = [*GROUP[:2], *by, *GROUP[2:]]
    graded = priced[priced["correct"].notna()]
    rows = []
    for group_keys, group in graded.groupby(keys, sort=True):
        correct = int(group["correct"].astype(bool).sum())
        usd = float(group["usd"].sum())
        rows.append(
            dict(
                zip(keys, group_keys, strict=True),
                n=int(group["problem_id"].nunique()),
                attempts=len(group),
                accuracy=float(group["correct"].astype(bool).mean()),
                mean_prompt_tokens=float(group["prompt_tokens"].mean()),
                mean_thinking_tokens=float(group["thinking_tokens"].mean()),
                mean_answer_tokens=float(group["answer_tokens"].mean()),
                mean_verifier_tokens=float(group["verifier_tokens"].mean()),
                engine_seconds=float(group["seconds"].sum()),
                device_hours=float(group["device_hours"].sum()),
                usd=usd,
                usd_per_correct=usd / correct if correct else float("inf"),
                usd_api=float(group["usd_api"].sum(min_count=1)),
                flops=float(group["flops"].sum(min_count=1)),
                price_basis=str(group["price_basis"].iloc[0]),
            )
        )
    return pd.DataFrame(rows, columns=[*COST_COLUMNS[:2], *by, *COST_COLUMNS[2:]])


def pareto_frontier(table: pd.DataFrame, cost: str = "usd", value: str = "accuracy") -> pd.Series:
    """True for rows no other row beats: at most the cost and at least the
    value, strictly better in one."""
    costs = table[cost].to_numpy(dtype=float)
    values = table[value].to_numpy(dtype=float)
    on_front = []
    for c, v in zip(costs, values, strict=True):
        dominated = np.any((costs <= c) & (values >= v) & ((costs < c) | (values > v)))
        on_front.append(not dominated)
    return pd.Series(on_front, index=table.index, name="pareto")


def cost_to_target(
    table: pd.DataFrame, targets: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9), cost: str = "usd"
) -> pd.DataFrame:
    """Per model x task: the cheapest configuration reaching each target accuracy
    (empty where none does)."""
    rows = []
    for (model, task), group in table.groupby(["model", "task"], sort=True):
        for target in targets:
            reaching = group[group["accuracy"] >= target]
            row: dict[str, Any] = {"model": model, "task": task, "target_accuracy": target}
            if reaching.empty:
                row.update(strategy="", budget=np.nan, accuracy=np.nan, **{cost: np.nan})
            else:
                best = reaching.loc[reaching[cost].idxmin()]
                row.update(
                    strategy=best["strategy"],
                    budget=best["budget"],
                    accuracy=best["accuracy"],
                    **{cost: best[cost]},
                )
            rows.append(row)
    return pd.DataFrame(rows)
