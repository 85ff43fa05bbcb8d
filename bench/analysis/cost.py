"""What each record cost, and the tables built on it.

Per record: tokens (prompt, thinking, answer, verifier), engine seconds (the
run's measured engine time per generated token, times the tokens this
attempt generated: what the configuration would cost run on its own; a
sweep shares each chain's thinking across its budgets and pays less),
device-hours and their price for local
engines, the price of the same tokens at an API's rates where the pricing
config has them, and FLOPs = 2 x parameters x tokens processed (a forward
pass per token; prefix caching makes the real figure lower), the policy's
tokens at the policy's parameters and a reward model's at its own. A
verifier's engine seconds count in the device-hours: "verify" and "sample
more" sit on one axis. Prices come from the pricing config group, never
from code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.metrics import GROUP, with_verdict
from bench.run.columns import (
    ANSWER_TOKENS,
    BUDGET,
    CORRECT,
    DISCARDED_TOKENS,
    MODEL,
    PROBLEM_ID,
    PROMPT_TOKENS,
    SEARCH_TOKENS,
    SEARCH_VERIFIER_SECONDS,
    SEARCH_VERIFIER_TOKENS,
    SECONDS,
    STRATEGY,
    TASK,
    THINKING_TOKENS,
    VERIFIER_SECONDS,
    VERIFIER_TOKENS,
)

COST_COLUMNS = [
    MODEL,
    TASK,
    STRATEGY,
    BUDGET,
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
    # What an API user pays: cached prompt prefixes and the batch discount.
    "usd_api_paid",
    # Per problem (all of its attempts in the configuration): the distribution, not only the mean.
    "usd_per_problem_p50",
    "usd_per_problem_p95",
    "tokens_per_problem_p50",
    "tokens_per_problem_p95",
    "flops",
    "price_basis",
]


SEARCH_COLUMNS = (SEARCH_TOKENS, SEARCH_VERIFIER_TOKENS, SEARCH_VERIFIER_SECONDS)


def policy_generated(frame: pd.DataFrame) -> pd.Series:
    """Tokens the policy generated on each record's account: its thinking,
    answer and discarded tokens; for a search (strategies/search.py), its
    share of everything the search generated, pruned branches included."""
    own = frame[THINKING_TOKENS] + frame[ANSWER_TOKENS]
    if DISCARDED_TOKENS in frame:
        own = own + frame[DISCARDED_TOKENS].fillna(0)
    if SEARCH_TOKENS not in frame:
        return own
    search = frame[SEARCH_TOKENS].fillna(0)
    return search.where(search > 0, own)


def verifier_read(frame: pd.DataFrame) -> pd.Series:
    """Tokens a verifier read on each record's account: scoring the attempt,
    and for a search its share of the partial chains scored while searching."""
    read = frame[VERIFIER_TOKENS].fillna(0) if VERIFIER_TOKENS in frame else 0 * frame[BUDGET]
    if SEARCH_VERIFIER_TOKENS in frame:
        read = read + frame[SEARCH_VERIFIER_TOKENS].fillna(0)
    return read


class PricingError(ValueError):
    """A price the cost tables need is missing; the message names the config key."""


def price_records(
    records: pd.DataFrame, pricing: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """Records with cost columns. `runs` maps model name -> what the run's
    manifest says about it: device ("cpu"/"cuda"), devices (GPUs used) and
    parameters."""
    out = records.copy()
    for column in (VERIFIER_TOKENS, DISCARDED_TOKENS, VERIFIER_SECONDS, *SEARCH_COLUMNS):
        if column not in out:
            out[column] = 0
        out[column] = out[column].fillna(0)
    out["device_hours"] = 0.0
    out["usd"] = np.nan
    out["usd_api"] = np.nan
    out["usd_api_paid"] = np.nan
    out["flops"] = np.nan
    out["price_basis"] = ""
    for model, rows in out.groupby(MODEL).groups.items():
        run = runs.get(model, {})
        device = run.get("device", "cpu")
        price = (pricing.get("device_hours") or {}).get(device)
        if price is None:
            raise PricingError(
                f"no price for device {device!r} (model {model}); "
                f"set pricing.device_hours.{device}.usd_per_hour"
            )
        generated = policy_generated(out.loc[rows])
        if run.get("seconds_per_token"):
            out.loc[rows, SECONDS] = generated * float(run["seconds_per_token"])
        # The verifier's engine seconds too: verifying is compute on the same devices.
        busy = (
            out.loc[rows, SECONDS].fillna(0)
            + out.loc[rows, VERIFIER_SECONDS]
            + out.loc[rows, SEARCH_VERIFIER_SECONDS]
        )
        hours = busy / 3600 * max(1, int(run.get("devices", 1)))
        out.loc[rows, "device_hours"] = hours
        out.loc[rows, "usd"] = hours * float(price["usd_per_hour"])
        out.loc[rows, "price_basis"] = f"{device}-hours at ${price['usd_per_hour']}/h"
        processed = out.loc[rows, PROMPT_TOKENS] + generated
        parameters = run.get("parameters")
        # A reward model reads with its own parameters; without a count of
        # them (self-certainty reads nothing), the policy's stand in.
        verifier_parameters = run.get("verifier_parameters") or parameters
        if parameters:
            out.loc[rows, "flops"] = 2.0 * float(parameters) * processed + 2.0 * float(
                verifier_parameters
            ) * verifier_read(out.loc[rows])
        api = (pricing.get("api") or {}).get(model)
        if api is not None:
            _check_api_price(model, api)
            reasoning = api.get("reasoning_per_m")
            reasoning = api["output_per_m"] if reasoning is None else reasoning
            generated = (
                out.loc[rows, THINKING_TOKENS] * reasoning
                + (out.loc[rows, ANSWER_TOKENS] + out.loc[rows, DISCARDED_TOKENS])
                * api["output_per_m"]
            )
            prompt = out.loc[rows, PROMPT_TOKENS]
            out.loc[rows, "usd_api"] = (prompt * api["input_per_m"] + generated) / 1e6
            cached = api.get("cached_input_per_m")
            prompt_price = pd.Series(float(api["input_per_m"]), index=rows)
            if cached is not None:
                # The first attempt of a problem in a configuration pays the full
                # prompt; every later one (samples, repeats) hits the cached prefix.
                config = [*GROUP, PROBLEM_ID]
                later = out.loc[rows].groupby(config, sort=False).cumcount() > 0
                prompt_price = prompt_price.where(~later, float(cached))
            discount = 1.0 - float(api.get("batch_discount") or 0.0)
            out.loc[rows, "usd_api_paid"] = (prompt * prompt_price + generated) / 1e6 * discount
    return out


def _check_api_price(model: str, api: dict[str, Any]) -> None:
    discount = api.get("batch_discount") or 0.0
    if not 0.0 <= float(discount) < 1.0:
        raise PricingError(
            f"pricing.api.{model}.batch_discount={discount}; it is the share off, from 0 to "
            "below 1 (0.5: half price)"
        )
    for key in ("input_per_m", "output_per_m", "reasoning_per_m", "cached_input_per_m"):
        value = api.get(key)
        if value is not None and float(value) < 0:
            raise PricingError(f"pricing.api.{model}.{key}={value}; a price is 0 or more")


def require_api_prices(records: pd.DataFrame, pricing: dict[str, Any]) -> None:
    """For API-priced comparisons: every model needs input and output prices."""
    for model in sorted(records[MODEL].unique()):
        if model not in (pricing.get("api") or {}):
            raise PricingError(
                f"no API price for model {model}; set pricing.api.{model}.input_per_m and "
                f"pricing.api.{model}.output_per_m (with source and date)"
            )


def cost_table(priced: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per model x task x strategy x budget: tokens, time, money, FLOPs.
    Means are per attempt; engine seconds, hours, dollars and FLOPs are totals."""
    keys = [*GROUP[:2], *by, *GROUP[2:]]
    graded = with_verdict(priced)
    rows = []
    for group_keys, group in graded.groupby(keys, sort=True):
        correct = int(group[CORRECT].astype(bool).sum())
        usd = float(group["usd"].sum())
        per_problem = group.groupby(PROBLEM_ID)
        problem_usd = per_problem["usd"].sum()
        problem_tokens = (
            group.assign(_policy=policy_generated(group)).groupby(PROBLEM_ID)["_policy"].sum()
        )
        rows.append(
            dict(
                zip(keys, group_keys, strict=True),
                n=int(group[PROBLEM_ID].nunique()),
                attempts=len(group),
                accuracy=float(group[CORRECT].astype(bool).mean()),
                mean_prompt_tokens=float(group[PROMPT_TOKENS].mean()),
                mean_thinking_tokens=float(group[THINKING_TOKENS].mean()),
                mean_answer_tokens=float(group[ANSWER_TOKENS].mean()),
                mean_verifier_tokens=float(verifier_read(group).mean()),
                engine_seconds=float(group[SECONDS].sum()),
                device_hours=float(group["device_hours"].sum()),
                usd=usd,
                usd_per_correct=usd / correct if correct else float("inf"),
                usd_api=float(group["usd_api"].sum(min_count=1)),
                usd_api_paid=float(group["usd_api_paid"].sum(min_count=1))
                if "usd_api_paid" in group
                else np.nan,
                usd_per_problem_p50=float(problem_usd.quantile(0.5)),
                usd_per_problem_p95=float(problem_usd.quantile(0.95)),
                tokens_per_problem_p50=float(problem_tokens.quantile(0.5)),
                tokens_per_problem_p95=float(problem_tokens.quantile(0.95)),
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
    for (model, task), group in table.groupby([MODEL, TASK], sort=True):
        for target in targets:
            reaching = group[group["accuracy"] >= target]
            row: dict[str, Any] = {MODEL: model, TASK: task, "target_accuracy": target}
            if reaching.empty:
                row.update(strategy="", budget=np.nan, accuracy=np.nan, **{cost: np.nan})
            else:
                best = reaching.loc[reaching[cost].idxmin()]
                row.update(
                    strategy=best[STRATEGY],
                    budget=best[BUDGET],
                    accuracy=best["accuracy"],
                    **{cost: best[cost]},
                )
            rows.append(row)
    return pd.DataFrame(rows)
