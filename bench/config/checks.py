"""The checks a config's schema cannot express (budgets, names, shards, the
chat knob, the thinking mode, the context), each one line naming the key and
what would be right. configure.validate runs them, then the named strategy's.
"""

from __future__ import annotations

import math
import re
from typing import Any

from omegaconf import DictConfig

from bench.config.engines import CHAT_APIS, ENGINES, schema_of, uses_chat_api
from bench.config.schema import (
    BUDGET_KNOBS,
    DEVICES,
    ENGINE_KINDS,
    FAKE_SCRIPTS,
    Config,
    ConfigError,
    group_options,
    has_non_thinking_mode,
)


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not known; choose one of: {', '.join(allowed)}")


MAX_BUDGET = 1 << 30  # no context is longer; and it keeps every count within int64


def validate_budgets(values: list[int]) -> list[int]:
    budgets = list(values)
    if not budgets:
        raise ConfigError(
            "budget.tokens is empty; give thinking budgets, e.g. budget.tokens=[16,32,64]"
        )
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, int) or b < 0:
            raise ConfigError(
                f"budget.tokens has {b!r}; every budget must be an integer >= 0 "
                "(0: no thinking, the answer forced at once)"
            )
        if b > MAX_BUDGET:
            raise ConfigError(
                f"budget.tokens has {b}; a thinking budget is at most {MAX_BUDGET:,} tokens"
            )
    if len(set(budgets)) != len(budgets):
        dupes = sorted({b for b in budgets if budgets.count(b) > 1})
        raise ConfigError(f"budget.tokens repeats {dupes}; list each budget once")
    if budgets != sorted(budgets):
        raise ConfigError(
            f"budget.tokens {budgets} is not increasing; write them in order, e.g. {sorted(budgets)}"
        )
    return budgets


def parse_shard(value: Any) -> tuple[int, int] | None:
    """shard="i/n" -> (i, n); None when unsharded."""
    if value is None:
        return None
    index, _, count = str(value).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise ConfigError(f"shard={value!r}; write it as i/n with 0 <= i < n, e.g. shard=0/4")
    return i, n


def _validate_chat(cfg: Config | DictConfig) -> None:
    """A chat API's budget knob must be usable (the strategy pairing: strategies/registry.py)."""
    chat = uses_chat_api(cfg.engine)
    if not chat:
        return
    _choice("model.budget_knob", cfg.model.budget_knob, BUDGET_KNOBS)
    if cfg.model.budget_knob == "reasoning_effort":
        budgets, levels = list(cfg.budget.tokens), list(cfg.model.reasoning_effort)
        if len(levels) != len(budgets):
            raise ConfigError(
                f"model.budget_knob=reasoning_effort needs one level per budget: budgets "
                f"{budgets}, model.reasoning_effort={levels}; e.g. model.reasoning_effort=[low,high]"
            )


# Grading workers are processes (sympy in each): more than this only thrashes.
MAX_GRADING_WORKERS = 64
# A run name is a folder name under results_dir, never a path.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RESERVED_RUN_NAMES = {"latest"}  # results/latest points at the newest run


def validate_run_name(name: Any) -> None:
    if name is None:
        return
    text = str(name)
    if not RUN_NAME.fullmatch(text) or text in RESERVED_RUN_NAMES:
        reason = (
            "is reserved (it points at the newest run)"
            if text in RESERVED_RUN_NAMES
            else ("is not a plain name")
        )
        raise ConfigError(
            f"run_name={text!r} {reason}; use letters, digits, '.', '_' and '-', starting "
            "with a letter or digit, e.g. run_name=qwen-math-1"
        )


def _validate_modes(cfg: Config | DictConfig) -> None:
    """Budget 0, the thinking switch, repeats and published figures."""
    budgets = list(cfg.budget.tokens)
    if not cfg.model.thinking:
        if not has_non_thinking_mode(cfg.model):
            raise ConfigError(
                f"model.thinking=false, but model {cfg.model.name} has no non-thinking mode "
                "(model.non_thinking); budget 0 is its no-thinking point: budget.tokens=[0,...]"
            )
        if budgets != [0]:
            raise ConfigError(
                f"model.thinking=false does not think, so budgets {budgets} mean nothing; "
                "set budget.tokens=[0]"
            )
    if cfg.repeats < 1 or cfg.repeats > 1000:
        raise ConfigError(f"repeats={cfg.repeats}; choose 1 to 1000 seeds per configuration")
    for task, entry in (cfg.published or {}).items():
        value = entry.get("accuracy") if isinstance(entry, dict | DictConfig) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ConfigError(
                f"published.{task} needs accuracy between 0 and 1 (and source), e.g. "
                "published.math500={accuracy: 0.839, source: 'DeepSeek-R1 README'}"
            )


# The engine's numbers: key -> (smallest allowed, whether the smallest itself
# is allowed, largest allowed or None, what the key means). None values stay
# allowed where the schema makes the key optional (the model's own value then).
ENGINE_NUMBERS: dict[str, tuple[float, bool, float | None, str]] = {
    "delay_s": (0, True, None, "seconds of simulated latency (fake engine)"),
    "tensor_parallel_size": (1, True, None, "GPUs per engine"),
    "pipeline_parallel_size": (1, True, None, "pipeline stages"),
    "data_parallel_size": (1, True, None, "engine replicas"),
    "gpu_memory_utilization": (0, False, 1, "the share of GPU memory vLLM may take"),
    "max_model_len": (1, True, None, "tokens of context"),
    "kv_cache_space_gib": (1, True, None, "GiB of KV cache (CPU build)"),
    "block_size": (1, True, None, "tokens per KV-cache block"),
    "concurrency": (1, True, None, "requests in flight"),
    "request_timeout_s": (0, False, None, "seconds a request may take"),
    "max_retries": (0, True, None, "retries after the first try"),
    "backoff_s": (0, True, None, "seconds before the first retry"),
    "backoff_max_s": (0, True, None, "seconds between retries at most"),
}


def validate_engine_numbers(engine: Any) -> None:
    """Every engine number in its range, finite: one line naming the key."""
    for key, (low, low_ok, high, meaning) in ENGINE_NUMBERS.items():
        value = getattr(engine, key, None)
        if value is None:
            continue
        fine = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
            and (value >= low if low_ok else value > low)
            and (high is None or value <= high)
        )
        if not fine:
            bound = f">= {low}" if low_ok else f"> {low}"
            if high is not None:
                bound += f" and <= {high}"
            raise ConfigError(f"engine.{key}={value!r}; it must be a number {bound} ({meaning})")


def validate_engine(engine: Any) -> None:
    """The engine's kind, its keys (those of that kind's schema), choices and numbers."""
    _choice("engine.kind", engine.kind, ENGINE_KINDS)
    schema = schema_of(engine)
    if schema is not ENGINES[engine.kind].schema:
        of = next((k.name for k in ENGINES.values() if k.schema is schema), None)
        raise ConfigError(
            f"engine.kind={engine.kind!r} on the keys of a {of or 'different'} engine; choose "
            f"the engine as a whole, engine=NAME (one of: {', '.join(group_options('engine'))}), "
            "rather than engine.kind"
        )
    _choice("engine.device", engine.device, DEVICES)
    if hasattr(engine, "script"):
        _choice("engine.script", engine.script, FAKE_SCRIPTS)
    if hasattr(engine, "api"):
        _choice("engine.api", engine.api, CHAT_APIS)
    validate_engine_numbers(engine)


def validate(cfg: Config | DictConfig) -> None:
    """Semantic checks the schema's types cannot express, but the strategy's:
    configure.validate runs these and the named strategy plugin's checks."""
    validate_run_name(cfg.run_name)
    _validate_modes(cfg)
    workers = cfg.grading_workers
    if workers is not None and not 1 <= workers <= MAX_GRADING_WORKERS:
        raise ConfigError(
            f"grading_workers={workers}; choose 1 to {MAX_GRADING_WORKERS} "
            "(or leave it unset: one per core)"
        )
    validate_budgets(list(cfg.budget.tokens))
    parse_shard(cfg.shard)
    validate_engine(cfg.engine)
    _validate_chat(cfg)
    _choice("suite.on_bad_row", cfg.suite.on_bad_row, ("stop", "skip"))
    if not cfg.suite.tasks:
        raise ConfigError("suite.tasks is empty; name at least one task file under tasks/")
    for key in ("limit", "sample"):
        value = getattr(cfg.suite, key)
        if value is not None and value < 1:
            raise ConfigError(f"suite.{key}={value}; it must be a positive number or null")
    for kind, template in cfg.model.prompts.items():
        if "{question}" not in template:
            raise ConfigError(f"model.prompts.{kind} must contain {{question}}")
    if cfg.grading_timeout_s <= 0:
        raise ConfigError(f"grading_timeout_s={cfg.grading_timeout_s}; it must be positive seconds")
    if cfg.store_interval_s < 0:
        raise ConfigError(f"store_interval_s={cfg.store_interval_s}; it must be 0 or more seconds")
    # Before any prompt exists: the budgets and the answer alone must fit.
    check_context(cfg, prompt_tokens=0)


# Room beyond prompt + budget + answer: the end-of-thinking delimiter that may
# start right at the budget, and the forced-answer cue after a cut.
CONTEXT_MARGIN = 32


def check_context(
    cfg: Config | DictConfig,
    prompt_tokens: int,
    answer_tokens: int | None = None,
    problem: str | None = None,
) -> None:
    """The one context check: a prompt of `prompt_tokens`, the largest budget,
    the answer (`answer_tokens`, else the model's) and CONTEXT_MARGIN must fit
    the model's context. validate() runs it with no prompt, prompts.py
    with every prompt."""
    limit = getattr(cfg.engine, "max_model_len", None) or cfg.model.max_model_len
    largest = max(cfg.budget.tokens)
    need = prompt_tokens + largest + (answer_tokens or cfg.model.answer_max_tokens) + CONTEXT_MARGIN
    if need <= limit:
        return
    if problem is None:
        raise ConfigError(
            f"the largest budget {largest} plus the answer does not fit the model's "
            f"context (max_model_len={limit}); lower budget.tokens or raise model.max_model_len"
        )
    raise ConfigError(
        f"problem {problem}: prompt ({prompt_tokens} tokens) + largest budget ({largest}) + "
        f"answer exceed max_model_len={limit}; lower budget.tokens or raise model.max_model_len"
    )
