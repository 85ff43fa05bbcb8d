"""What a task file says (tasks/NAME.yaml): where problems come from, how
their fields map onto `Problem`, which grader checks them and the prompt
template. The schema is the `TaskSpec` dataclass; an unknown key in a task
file is an error."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import OmegaConf

from bench.paths import TASKS_DIR

FORMATS = ("livecodebench", "gpqa")


@dataclass(frozen=True)
class Selection:
    """Which of a release's problems a suite takes (livecodebench): its
    contest dates (after <= date < before, ISO dates) and release version."""

    after: str | None = None
    before: str | None = None
    version: str | None = None


@dataclass
class FieldMap:
    id: str | None = None  # None: the row's index
    question: str = "question"
    answer: str = "answer"
    difficulty: str | None = None
    subject: str | None = None
    # Code tasks: the gold answer is a JSON object of these row fields
    # (key in the object -> field in the row), e.g. test, entry_point, prompt.
    gold_fields: dict[str, str] | None = None
    # A field whose lines are appended to the question (MBPP shows its asserts).
    question_append: str | None = None


@dataclass
class SourceSpec:
    # generator | jsonl | hf | livecodebench (release files) | gpqa (CSV, parquet, JSONL, hub)
    kind: str = "generator"
    generator: str | None = None
    count_per_level: int = 30
    seed: int = 0
    path: str | None = None  # jsonl
    dataset: str | None = None  # hf
    config: str | None = None
    split: str = "test"
    # The hub copy's field names, where they differ from `fields` (which
    # describe the local JSONL layout <data_dir>/<local>/test.jsonl).
    hub_fields: FieldMap | None = None
    # The gold answer is the text after this marker in the answer field
    # (GSM8K's hub copy ends its worked answer with "#### 18").
    gold_after: str | None = None
    local: str | None = None  # folder name under suite.data_dir
    # Rows of the local file to keep: field -> value (MBPP's standard test split;
    # the hub serves splits by `split` instead).
    where: dict[str, str] | None = None
    # livecodebench: the release (suite.version overrides); hub: its version_tag.
    version: str | None = None
    # A gated hub set (GPQA): the environment variable holding the token.
    token_env: str | None = None


@dataclass
class TaskSpec:
    name: str
    source: SourceSpec = field(default_factory=SourceSpec)
    fields: FieldMap = field(default_factory=FieldMap)
    grader: str = "numeric"
    # A property of the task, never guessed from an answer: its answers are
    # choice letters (A-J), compared as letters (grader math_choice).
    multiple_choice: bool = False
    prompt: str = "{question}"
    # Override the model's answer length and stop strings for this task's
    # answers (code needs hundreds of tokens and runs over newlines).
    answer_max_tokens: int | None = None
    answer_stop: list[str] | None = None

    @property
    def grader_name(self) -> str:
        """The grader that checks this task's answers."""
        return "math_choice" if self.multiple_choice else self.grader


class TaskError(ValueError):
    """A task that cannot be loaded; the message names the file and the fix."""


def available_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def load_spec(name: str) -> TaskSpec:
    path = TASKS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise TaskError(
            f"task {name!r} is not known; choose one of: {', '.join(available_tasks())}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(TaskSpec), OmegaConf.load(path))
    except Exception as exc:  # omegaconf's messages name the bad key
        raise TaskError(f"{path.name}: {exc}".splitlines()[0]) from exc
    spec = OmegaConf.to_object(merged)
    assert isinstance(spec, TaskSpec)
    if "{question}" not in spec.prompt:
        raise TaskError(f"{path.name}: prompt must contain {{question}}")
    if spec.multiple_choice and spec.grader != "math":
        raise TaskError(
            f"{path.name}: multiple_choice: true needs grader: math (it has {spec.grader!r})"
        )
    return spec
