"""From a suite to token-id prompts: load the problems, render each with its
task's (or the model family's) template and chat template, check they fit
the context, and derive the strategy's settings from the model config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench import strategies
from bench.config import checks as config_checks
from bench.config.schema import Config, ConfigError, ModelConfig, StrategyConfig, SuiteConfig
from bench.engines import Engine
from bench.strategies import ChainSettings, Job, ProblemRequest
from bench.tasks import loader as tasks_mod
from bench.types import Problem


@dataclass(frozen=True)
class Prompted:
    problem: Problem
    prompt_ids: tuple[int, ...]
    grader: str
    # This task's answer length and stop strings (None: the model's).
    answer_max_tokens: int | None = None
    answer_stop: tuple[str, ...] | None = None
    # The conversation itself, for chat APIs (which render it themselves).
    messages: tuple[tuple[str, str], ...] = ()


def job_of(
    prompted: Sequence[Prompted],
    budgets: Sequence[int],
    samples: int = 1,
    seeds: Sequence[int] | None = None,
    messages: bool = False,
) -> Job:
    """What a strategy streams for these problems, in this order: each one's
    prompt (its chat messages with `messages`), seed, answer settings and question."""
    return Job(
        tuple(
            ProblemRequest(
                index=i,
                prompt=tuple(p.messages if messages else p.prompt_ids),
                seed=None if seeds is None else seeds[i],
                answer_tokens=p.answer_max_tokens,
                answer_stop=p.answer_stop,
                question=p.problem.question,
            )
            for i, p in enumerate(prompted)
        ),
        tuple(budgets),
        samples,
    )


def chain_settings(
    model_cfg: ModelConfig, strategy_cfg: StrategyConfig | None = None
) -> ChainSettings:
    """The model's delimiters and sampling, with the strategy's overrides and
    settings of its own (its plugin says which)."""
    strategy = strategy_cfg
    plugin = strategies.get(strategy.name if strategy is not None else "single")
    temperature = plugin.temperature(model_cfg, strategy)
    top_p = model_cfg.sampling.top_p
    if strategy is not None and strategy.top_p is not None:
        top_p = strategy.top_p
    top_k = getattr(model_cfg.sampling, "top_k", None)
    if strategy is not None and getattr(strategy, "top_k", None) is not None:
        top_k = strategy.top_k
    thinking = getattr(model_cfg, "thinking", True) is not False
    settings = ChainSettings(
        thinking_end=tuple(model_cfg.thinking_end),
        forced_answer=model_cfg.forced_answer,
        answer_stop=tuple(model_cfg.answer_stop),
        answer_max_tokens=model_cfg.answer_max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        answer_temperature=0.0 if thinking else temperature,
    )
    return replace(settings, **(plugin.settings(strategy) if strategy is not None else {}))


def load_suite(
    suite_cfg: SuiteConfig, skipped: list[str] | None = None
) -> tuple[list[Problem], dict[str, tasks_mod.TaskSpec]]:
    problems: list[Problem] = []
    specs = {}
    if suite_cfg.path and len(suite_cfg.tasks) > 1:
        raise ConfigError(
            f"suite.path names one file but suite {suite_cfg.name!r} has tasks "
            f"{list(suite_cfg.tasks)}; use suite.data_dir (a folder with <task>/test.jsonl) instead"
        )
    for name in suite_cfg.tasks:
        specs[name] = tasks_mod.load_spec(name)
    _check_selection(suite_cfg, specs)
    for name, spec in specs.items():
        selection = tasks_mod.Selection(suite_cfg.after, suite_cfg.before, suite_cfg.version)
        loaded = tasks_mod.load_problems(
            spec, suite_cfg.path, suite_cfg.on_bad_row, skipped, suite_cfg.data_dir, selection
        )
        if not loaded:
            where = suite_cfg.path or f"task {name!r}'s data"
            reason = "every row was malformed (see the warnings)" if skipped else "it has no rows"
            if spec.source.kind == "livecodebench" and (suite_cfg.after or suite_cfg.before):
                reason = (
                    f"no problem's contest date is in suite.after={suite_cfg.after} .. "
                    f"suite.before={suite_cfg.before} (after <= date < before)"
                )
            raise ConfigError(
                f"{where} gave no problems: {reason}; point it at a JSONL file with problems"
            )
        problems.extend(tasks_mod.select(loaded, suite_cfg.limit, suite_cfg.sample, suite_cfg.seed))
    if not problems:
        raise ConfigError(
            f"suite {suite_cfg.name!r} selected no problems; check suite.limit/suite.sample"
        )
    return problems, specs


def _check_selection(suite_cfg: SuiteConfig, specs: dict[str, tasks_mod.TaskSpec]) -> None:
    """Contest dates and releases select LiveCodeBench problems; a suite
    without such a task cannot use them."""
    given = [k for k in ("after", "before", "version") if getattr(suite_cfg, k) is not None]
    dated = [n for n, s in specs.items() if s.source.kind == "livecodebench"]
    if given and not dated:
        raise ConfigError(
            f"suite.{given[0]} selects contest dates or releases of livecodebench tasks; "
            f"suite {suite_cfg.name!r} has none ({', '.join(specs)})"
        )


def build_prompts(
    engine: Engine,
    problems: list[Problem],
    specs: dict[str, tasks_mod.TaskSpec],
    model_cfg: ModelConfig,
) -> list[Prompted]:
    # A chat API renders the messages itself; we send them as they are.
    tokenizer = None if engine.chat else engine.tokenizer
    prompted = []
    for problem in problems:
        spec = specs[problem.task]
        template = model_cfg.prompts.get(spec.grader) or model_cfg.prompt_template or spec.prompt
        messages = []
        if model_cfg.system_prompt:
            messages.append({"role": "system", "content": model_cfg.system_prompt})
        messages.append(
            {"role": "user", "content": template.replace("{question}", problem.question)}
        )
        ids: tuple[int, ...] = ()
        if tokenizer is not None:
            text = tokenizer.render_chat(messages, **dict(model_cfg.chat_template_kwargs))
            ids = tuple(tokenizer.encode(text))
        answer_tokens = spec.answer_max_tokens
        if getattr(model_cfg, "thinking", True) is False:
            # A non-thinking mode's answer is its whole response: the task's
            # short answer length does not cap it.
            answer_tokens = max(answer_tokens or 0, model_cfg.answer_max_tokens)
        prompted.append(
            Prompted(
                problem,
                ids,
                spec.grader,
                answer_tokens,
                tuple(spec.answer_stop) if spec.answer_stop is not None else None,
                tuple((m["role"], m["content"]) for m in messages),
            )
        )
    return prompted


def check_context(prompted: list[Prompted], cfg: Config) -> None:
    """Every prompt fits the context with the largest budget and its answer."""
    for p in prompted:
        config_checks.check_context(
            cfg, len(p.prompt_ids), p.answer_max_tokens, p.problem.problem_id
        )
