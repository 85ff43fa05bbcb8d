"""Typed schemas for every Hydra config group, registered in the ConfigStore.

The YAML files under configs/ only fill these in: a key that is not declared
here (a typo) fails at start-up with the key's name. The checks the types
cannot express live in config_checks.py (the strategy's own in its plugin);
configure.py runs them all. Nothing here starts an engine or touches a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

# The engine kinds' schemas and the identity metadata have modules of their
# own; importers of this module find them here too.
from bench.config.engines import (  # noqa: F401
    DEVICES,
    ENGINES,
    FAKE_SCRIPTS,
    EngineConfig,
    FakeEngineConfig,
    OpenAIEngineConfig,
    VLLMEngineConfig,
    job_cpus,
    job_gpus,
)
from bench.config.fields import NEUTRAL_INSIDE_KEY, added, setting
from bench.paths import CONFIG_DIR

ENGINE_KINDS = tuple(ENGINES)
# How a budget reaches a chat API (engines/chat.py sends each).
BUDGET_KNOBS = ("max_tokens", "reasoning_effort", "thinking_token_budget")
# The Hydra config groups (configs/<group>/*.yaml).
GROUPS = ("model", "engine", "suite", "budget", "strategy", "pricing")


class ConfigError(ValueError):
    """A config value that is wrong; the message names the key and what would be right."""


@dataclass
class SamplingConfig:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None  # None: every token (the engine's default)


@dataclass
class NonThinkingConfig:
    """A hybrid model's non-thinking mode (Qwen3's enable_thinking=False):
    what changes when model.thinking=false."""

    # Merged over the model's chat_template_kwargs (e.g. {enable_thinking: false}).
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    # The whole response is the answer here: it needs room.
    answer_max_tokens: int = 1024
    # Put after the prompt before the answer (the template usually closes an
    # empty thinking block itself, so nothing).
    answer_prefix: str = ""


@dataclass
class ModelConfig:
    name: str = MISSING  # short name used in records and plots
    # A Hugging Face id, a local folder, or `embedded:NAME` (converted once into the cache).
    source: str = MISSING
    revision: str | None = None
    # Texts the model writes when it ends its thinking on its own ("</think>" for
    # reasoning models; the answer line's labels for plain instruct models).
    thinking_end: list[str] = MISSING
    # Appended after a cut at the budget: closes the thinking and cues the answer.
    forced_answer: str = MISSING
    # Overrides the task's prompt template when set ({question} is filled in).
    prompt_template: str | None = None
    # Per grader kind ("math", "numeric", "code"): this model family's own
    # template for such tasks; its answer format must match forced_answer.
    prompts: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    # top_k came after runs were stored (the non-thinking mode's had it from the start).
    sampling: SamplingConfig = field(
        default_factory=SamplingConfig, metadata={NEUTRAL_INSIDE_KEY: {"top_k": None}}
    )
    answer_max_tokens: int = 32  # decoding after the delimiter: the short answer only
    answer_stop: list[str] = field(default_factory=list)  # where the answer ends
    max_model_len: int = 4096
    # Where one reasoning step ends in this model's thinking: a process reward
    # model scores each ("," for the chain models, "\n\n" for math models).
    # Read only by a reward model, whose settings (this one among them) enter
    # the identity as the config's `verifier` when one is used.
    step_delimiter: str | None = setting(None)
    # strategy=native (vLLM's thinking_token_budget): where thinking starts, as
    # vLLM's reasoning parser knows it (qwen3, deepseek_r1) or as a string;
    # the string forced at the budget is forced_answer.
    reasoning_parser: str | None = None
    reasoning_start: str | None = None
    # Chat APIs (engine.api=chat, strategy=api): how a budget reaches the
    # server: max_tokens, reasoning_effort or thinking_token_budget; for
    # reasoning_effort, the level each budget stands for, in budget order
    # (budget.tokens=[1024,8192] model.reasoning_effort=[low,high]).
    budget_knob: str = "max_tokens"
    reasoning_effort: list[str] = field(default_factory=list)
    parameters: float = 0.0  # parameter count, for FLOPs estimates
    dtype: str = "bfloat16"
    # false: run the model's non-thinking mode (needs `non_thinking`), the
    # point budget 0 of a thinking sweep is compared with; budget.tokens=[0].
    thinking: bool = added(True)
    # A model has one when it sets its chat_template_kwargs or answer_prefix.
    non_thinking: NonThinkingConfig = field(default_factory=NonThinkingConfig)


@dataclass
class SuiteConfig:
    name: str = MISSING
    tasks: list[str] = field(default_factory=list)  # task files under tasks/
    limit: int | None = None  # first N problems of each task
    sample: int | None = None  # a seeded random N of each task (after limit)
    seed: int = 0
    path: str | None = None  # local JSONL instead of the task's default source
    # A folder with <set>/test.jsonl per task (offline copies of the hub sets);
    # unset, tasks load from the Hugging Face hub.
    data_dir: str | None = "${oc.env:THINKBENCH_DATA,null}"
    on_bad_row: str = "stop"  # a malformed dataset row: stop (with file:line) or skip (counted)
    # livecodebench tasks: contest dates after <= date < before (ISO dates, the
    # contamination control) and the release (release_v5, v6, v1_v3, ...).
    after: str | None = added(None)
    before: str | None = added(None)
    version: str | None = added(None)


@dataclass
class BudgetConfig:
    name: str = MISSING
    tokens: list[int] = field(default_factory=list)


@dataclass
class StrategyConfig:
    name: str = MISSING  # a strategy plugin's name (bench/strategies/)
    n: int = 1  # independent chains (samples) per problem
    # Override the model's sampling for this strategy (sc and bon need > 0).
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = added(None)
    # wait: the string that replaces a suppressed end of thinking, and how often.
    wait: str = "\nWait"
    max_extensions: int = 0
    # bon: how samples are scored (bench/strategies/verifiers.py).
    verifier: str | None = None
    logprobs: int = 5  # top log-probabilities per token for self_certainty
    # maj@k / bon@k: random k-subsets per problem where exact enumeration is too big.
    subset_draws: int = 1000
    # A process reward model's step scores as one: last | min | prod.
    step_aggregate: str = added("last")


# Input adapters (bench/engines/reward_inputs.py): how a PRM family reads a chain.
VERIFIER_FAMILIES = ("reference", "qwen2-prm", "math-shepherd", "rlhflow")
VERIFIER_KINDS = ("prm", "orm")


@dataclass
class VerifierConfig:
    """A process or outcome reward model (configs/verifier/NAME.yaml), named
    by `strategy.verifier=NAME`; scored through vLLM's pooling runner."""

    name: str = MISSING
    kind: str = MISSING  # prm: a score per step; orm: one score for the whole attempt
    family: str = MISSING  # its input format: one of VERIFIER_FAMILIES
    # A Hugging Face id, a local folder, or `project:PATH` (a folder of this project).
    source: str = MISSING
    revision: str | None = None
    # The text after every step where the score is read (Qwen2.5-Math-PRM's
    # "<extra_0>", Math-Shepherd's "ки"); its token id as the model card gives
    # it (None: looked up in the tokenizer).
    step_tag: str | None = None
    step_tag_id: int | None = None
    # Causal-LM PRMs (Math-Shepherd, RLHFlow): the good and bad label tokens;
    # the step score is P(good) / (P(good) + P(bad)) at the tag.
    label_tokens: list[str] = field(default_factory=list)
    label_token_ids: list[int] = field(default_factory=list)
    good_label: int = 1  # a two-class head (Qwen2.5-Math-PRM): the column of "good"
    system_prompt: str | None = None
    parameters: float = 0.0  # for FLOPs: 2 x parameters x tokens read
    dtype: str = "float32"
    max_model_len: int = 4096
    kv_cache_space_gib: int = 1  # CPU build: beside the policy's own KV cache
    # A vLLM server already serving it with the pooling runner (its /pooling
    # endpoint); None: an engine in this process, beside the policy's.
    base_url: str | None = None
    served_model: str | None = None  # the server's name for it (default: name)
    source_note: str = ""  # where the format facts come from (model card)


@dataclass
class DevicePrice:
    usd_per_hour: float = MISSING
    hardware: str = ""
    source: str = MISSING  # where the number comes from
    date: str = MISSING  # when it was read


@dataclass
class ApiPrice:
    input_per_m: float = MISSING
    output_per_m: float = MISSING
    reasoning_per_m: float | None = None  # default: the output price
    # A prompt prefix the API has cached (every sample of a problem after the
    # first repeats the prompt); null: no cache discount.
    cached_input_per_m: float | None = None
    batch_discount: float = 0.0  # share off every token through a batch API (0.5: half price)
    source: str = MISSING
    date: str = MISSING


@dataclass
class PricingConfig:
    name: str = MISSING
    device_hours: dict[str, DevicePrice] = field(default_factory=dict)  # by engine.device
    api: dict[str, ApiPrice] = field(default_factory=dict)  # by model name


@dataclass
class Config:
    model: ModelConfig = MISSING
    engine: EngineConfig = MISSING
    suite: SuiteConfig = MISSING
    budget: BudgetConfig = MISSING
    strategy: StrategyConfig = MISSING
    # Prices re-price a run; they do not change what it generated.
    pricing: PricingConfig = setting(MISSING)
    run_name: str | None = setting(None)  # default: a timestamped name
    results_dir: str = setting("results")
    grading_workers: int | None = setting(None)  # default: the number of cores; at most 64
    # A run folder has one writer at a time: wait for the holder instead of refusing.
    wait_for_lock: bool = setting(False)
    # Show the engine's own logs (vLLM's) in the terminal instead of RUN/engine.log.
    verbose: bool = setting(False)
    # Print the results table when the sweep ends (bench show RUN prints it later).
    summary: bool = setting(True)
    # A check (one symbolic comparison, one program's tests) past this many
    # seconds counts as wrong; its worker is killed.
    grading_timeout_s: float = setting(5.0)
    # Finished problems are stored (and graded) at least this often, so a
    # crash loses at most this many seconds of work.
    store_interval_s: float = setting(20.0)
    # Write RUN/report/ (page, figures, cost tables) when the sweep ends;
    # `bench report RUN` builds it any time later.
    report: bool = setting(True)
    # Draw RUN/accuracy_vs_thinking.png (the tables are written either way).
    plots: bool = setting(True)
    seed: int = 0
    # Run every configuration this many times with seeds seed, seed+1, ...:
    # the report gives pass@1 over the repeats and its spread across seeds.
    repeats: int = added(1)
    # An experiment pack's published figures (configs/experiment/): task ->
    # accuracy, with the source; `bench report` checks the run against them.
    published: dict[str, Any] = added({}, factory=dict)
    # "i/n": this run takes every n-th problem starting at i (0 <= i < n), so n
    # machines split a suite; `bench merge` joins the shards into one run.
    shard: str | None = None


def config_groups_help() -> str:
    """`bench sweep --help`'s groups: the options of configs/, one line a group
    (Hydra's own list shows the schemas too, which are not options)."""
    groups = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name != "hydra")
    return "\n".join(f"{group}: {', '.join(group_options(group))}" for group in groups)


def register() -> None:
    """Put the schemas in Hydra's ConfigStore (idempotent), and the resolvers
    the launcher configs (configs/hydra/launcher/) size each job with and
    `bench sweep --help` lists the groups with."""
    resolvers = (
        ("bench_job_cpus", job_cpus),
        ("bench_job_gpus", job_gpus),
        ("bench_config_groups", config_groups_help),
    )
    for name, fn in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    for kind in ENGINES.values():
        cs.store(group="engine", name=f"{kind.name}_schema", node=kind.schema)
    cs.store(group="suite", name="suite_schema", node=SuiteConfig)
    cs.store(group="budget", name="budget_schema", node=BudgetConfig)
    cs.store(group="strategy", name="strategy_schema", node=StrategyConfig)
    cs.store(group="pricing", name="pricing_schema", node=PricingConfig)


def verifier_names() -> list[str]:
    """The reward models `strategy.verifier` may name (configs/verifier/)."""
    return sorted(p.stem for p in (CONFIG_DIR / "verifier").glob("*.yaml"))


def load_verifier(name: str) -> VerifierConfig:
    """configs/verifier/NAME.yaml on its schema; ConfigError naming the choices."""
    path = CONFIG_DIR / "verifier" / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        raise ConfigError(
            f"strategy.verifier={name!r} is not known; choose self_certainty or one of: "
            f"{', '.join(verifier_names())}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(VerifierConfig), OmegaConf.load(path))
    except Exception as exc:  # a misspelt key or a wrong type in the file
        raise ConfigError(f"{path.name}: {str(exc).splitlines()[0]}") from None
    return OmegaConf.to_object(merged)


def group_options(group: str) -> list[str]:
    """The configs of one group: the names `GROUP=NAME` accepts."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def has_non_thinking_mode(model_cfg: Any) -> bool:
    mode = model_cfg.non_thinking
    return mode is not None and bool(mode.chat_template_kwargs or mode.answer_prefix)


def apply_thinking_mode(cfg: DictConfig) -> None:
    """model.thinking=false: the non-thinking mode's template switch, sampling
    and answer length replace the thinking mode's (in place, before anything
    reads them; the run's manifest then records what was run)."""
    model = cfg.model
    if model.thinking or not has_non_thinking_mode(model):
        return
    mode = model.non_thinking
    model.chat_template_kwargs = {**model.chat_template_kwargs, **mode.chat_template_kwargs}
    model.sampling = mode.sampling
    model.answer_max_tokens = mode.answer_max_tokens
    model.forced_answer = mode.answer_prefix


def record_model_name(model_cfg: Any) -> str:
    """The model's name in records: its non-thinking mode is a model of its own."""
    name = model_cfg.get("name") if isinstance(model_cfg, dict) else model_cfg.name
    thinking = (
        model_cfg.get("thinking", True) if isinstance(model_cfg, dict) else model_cfg.thinking
    )
    return name if thinking is not False else f"{name} (non-thinking)"


def to_container(cfg: Any) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
