"""Reward models as a second engine: every attempt's steps scored in one batch
through vLLM's own pooling path, the code a GPU user runs with the published
process reward models (Qwen2.5-Math-PRM, Math-Shepherd, RLHFlow).

`VLLMRewardEngine` builds `LLM(runner="pooling")` with STEP pooling on the
family's step tag (`PoolerConfig.step_tag_id`, and `returned_token_ids` for
causal-LM PRMs) and calls `LLM.encode(..., pooling_task="token_classify")`,
the task name vLLM 0.32 gives token classification (`encode` and `reward`
were removed). A family without a step tag (RLHFlow) is pooled over ALL
tokens and read at its score positions. A step's score is the head's
P(good): the `good_label` column of a two-class head, or P(good) / (P(good)
+ P(bad)) over the two label tokens.

`FakeRewardEngine` (unit tests and dry runs only) scores a chain problem's
steps from their true labels (bench/tasks/chain_steps.py), with noise, so the
combinatorics are testable without a model.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.config.engines import EngineConfig, OpenAIEngineConfig, traits
from bench.config.schema import ConfigError, VerifierConfig
from bench.engines import models
from bench.engines.reward_inputs import RewardInput, label_ids, reward_input, tag_id
from bench.engines.vllm import engine_environment
from bench.engines.vllm_process import placement, released, runs_here


@dataclass(frozen=True)
class Scored:
    step_scores: list[float]  # P(good) per step, the answer last
    tokens: int  # tokens the verifier read


class VLLMRewardEngine:
    kind = "vllm"

    def __init__(self, verifier: VerifierConfig, engine_cfg: EngineConfig) -> None:
        self.verifier = verifier
        self.engine_cfg = engine_cfg
        for key, value in engine_environment(engine_cfg).items():
            os.environ.setdefault(key, value)
        self.model_path = models.prepare(verifier.source)
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, revision=verifier.revision)
        self.step_tag_id = tag_id(verifier, self.tokenizer)
        self.label_token_ids = label_ids(verifier, self.tokenizer)
        if verifier.family != "rlhflow" and self.step_tag_id is None:
            raise ConfigError(
                f"verifier {verifier.name} has no step tag; set step_tag (and step_tag_id) in "
                f"configs/verifier/{verifier.name}.yaml"
            )
        self._llm: Any = None
        self.start_seconds: float | None = None
        self.busy_seconds = 0.0

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            pooler = pooler_options(self.verifier, self.step_tag_id, self.label_token_ids)
            options: dict[str, Any] = {
                "model": self.model_path,
                "revision": self.verifier.revision,
                "runner": "pooling",
                "dtype": self.verifier.dtype,
                "max_model_len": self.verifier.max_model_len,
                "enforce_eager": self.engine_cfg.enforce_eager,
                "seed": self.engine_cfg.seed,
                "pooler_config": pooler,
            }
            if self.label_token_ids:  # a causal LM read as a classifier over two tokens
                options["convert"] = "classify"
            if self.engine_cfg.device == "cuda":
                options["gpu_memory_utilization"] = min(0.3, self.engine_cfg.gpu_memory_utilization)
            started = time.perf_counter()
            # The CPU build sizes its KV cache from the environment when the
            # engine starts: the verifier's own, not the policy's.
            kv_space = str(self.verifier.kv_cache_space_gib)
            with (
                _environment(VLLM_CPU_KVCACHE_SPACE=kv_space),
                placement(self.engine_cfg, self) as where,
            ):
                self._llm = LLM(**options, **where)
            self.start_seconds = time.perf_counter() - started
        return self._llm

    def inputs(
        self, question: str, thinking: str, answer: str | None, delimiter: str
    ) -> RewardInput:
        return reward_input(
            self.verifier, self.tokenizer, question, thinking, answer, delimiter, self.step_tag_id
        )

    def score(self, inputs: Sequence[RewardInput]) -> list[Scored]:
        """Every input in one pooling call; P(good) at each score position."""
        if not inputs:
            return []
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(i.prompt_token_ids)) for i in inputs]
        llm = self.llm  # started first: its start-up is start_seconds, not scoring
        started = time.perf_counter()
        outputs = llm.encode(prompts, pooling_task="token_classify", use_tqdm=False)
        self.busy_seconds += time.perf_counter() - started
        return [
            Scored(
                _good_scores(self.verifier, self.label_token_ids, item, out.outputs.data),
                len(item.prompt_token_ids),
            )
            for item, out in zip(inputs, outputs, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier.name,
            "kind": self.verifier.kind,
            "family": self.verifier.family,
            "model_path": os.path.basename(self.model_path)
            if os.path.isabs(self.model_path)
            else self.model_path,
            "step_tag_id": self.step_tag_id,
            "label_token_ids": self.label_token_ids,
            "dtype": self.verifier.dtype,
            "in_process": runs_here(self),
            "start_seconds": self.start_seconds,
            "busy_seconds": round(self.busy_seconds, 3),
        }

    def close(self) -> None:
        if self._llm is not None:
            with contextlib.suppress(Exception):
                self._llm.llm_engine.engine_core.shutdown()
            self._llm = None
            released(self)


def _good_scores(
    verifier: VerifierConfig, labels: list[int], item: RewardInput, data: Any
) -> list[float]:
    """P(good) per step from what the pooler returned: rows at the step tags
    (all rows for a family read at its own positions), a column per label."""
    rows = data.float()
    if verifier.family == "rlhflow":
        rows = rows[item.positions]
    good = verifier.good_label
    if labels:  # two label tokens: P(good) / (P(good) + P(bad))
        probs = rows.softmax(dim=-1) if (rows.sum(dim=-1) - 1).abs().max() > 1e-3 else rows
        return (probs[:, good] / (probs[:, good] + probs[:, 1 - good])).tolist()
    return rows[:, good].tolist()


@contextlib.contextmanager
def _environment(**values: str):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class FakeRewardEngine:
    """Scores from the truth (chain problems): P(good) near 0.9 for a good
    step, near 0.1 for a bad one, a share `flip` of them swapped. For unit
    tests and dry runs; it reads the same inputs the real engines read."""

    kind = "fake"

    def __init__(self, verifier: VerifierConfig, flip: float = 0.1, seed: int = 0) -> None:
        from bench.training.reward_models import build_tokenizer

        self.verifier = verifier
        self.tokenizer = build_tokenizer()
        self.step_tag_id = tag_id(verifier, self.tokenizer)
        self.flip = flip
        self.seed = seed
        self.start_seconds = 0.0
        self.busy_seconds = 0.0
        self._truth: dict[tuple[int, ...], list[bool]] = {}

    def inputs(
        self, question: str, thinking: str, answer: str | None, delimiter: str
    ) -> RewardInput:
        from bench.tasks.chain_steps import step_labels

        made = reward_input(
            self.verifier, self.tokenizer, question, thinking, answer, delimiter, self.step_tag_id
        )
        labels = step_labels(question, thinking, answer)
        truth = (
            [True] * len(made.positions)
            if labels is None
            else [*labels.labels, labels.answer_label]
        )
        if self.verifier.kind == "orm":
            truth = truth[-1:]
        self._truth[tuple(made.prompt_token_ids)] = truth[: len(made.positions)]
        return made

    def score(self, inputs: Sequence[RewardInput]) -> list[Scored]:
        out = []
        for item in inputs:
            key = tuple(item.prompt_token_ids)
            rng = random.Random(hash((self.seed, key)) & 0xFFFFFFFF)
            scores = [
                (0.9 if good != (rng.random() < self.flip) else 0.1) + rng.uniform(-0.05, 0.05)
                for good in self._truth.get(key, [True] * len(item.positions))
            ]
            out.append(Scored(scores, len(item.prompt_token_ids)))
        return out

    def describe(self) -> dict[str, Any]:
        return {"verifier": self.verifier.name, "kind": "fake", "flip": self.flip}

    def close(self) -> None:
        pass


def pooler_options(verifier: VerifierConfig, step_tag: int | None, labels: list[int]) -> dict:
    """vLLM's PoolerConfig for this verifier: STEP pooling on its tag (ALL
    where it has none), and its two label tokens for a causal-LM PRM."""
    pooler: dict[str, Any] = {}
    if verifier.family == "rlhflow":
        pooler["tok_pooling_type"] = "ALL"
    else:
        pooler["step_tag_id"] = step_tag
    if labels:
        pooler["returned_token_ids"] = labels
    return pooler


def reward_serve_command(
    verifier: VerifierConfig, model_path: str, port: int, step_tag: int | None, labels: list[int]
) -> list[str]:
    """A vLLM server for this verifier on loopback: the pooling runner, whose
    /pooling endpoint answers token classification."""
    import json
    import sys

    command = [
        sys.executable, "-W", "ignore::DeprecationWarning",
        "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_path, "--host", "127.0.0.1", "--port", str(port),
        "--served-model-name", verifier.served_model or verifier.name,
        "--runner", "pooling",
        "--pooler-config", json.dumps(pooler_options(verifier, step_tag, labels)),
        "--max-model-len", str(verifier.max_model_len),
        "--dtype", verifier.dtype,
        "--enforce-eager",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    if labels:
        command += ["--convert", "classify"]
    return command


class ServedRewardEngine:
    """A verifier served by vLLM (`--runner pooling`): every input in one
    POST /pooling with task token_classify, read as the offline engine reads
    its outputs."""

    kind = "served"

    def __init__(self, verifier: VerifierConfig, timeout_s: float = 600.0) -> None:
        from transformers import AutoTokenizer

        self.verifier = verifier
        self.url = str(verifier.base_url).rstrip("/")
        self.url = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        self.timeout_s = timeout_s
        self.tokenizer = AutoTokenizer.from_pretrained(
            models.prepare(verifier.source), revision=verifier.revision
        )
        self.label_token_ids = label_ids(verifier, self.tokenizer)
        self.step_tag_id = tag_id(verifier, self.tokenizer)
        self.start_seconds = 0.0
        self.busy_seconds = 0.0

    def inputs(
        self, question: str, thinking: str, answer: str | None, delimiter: str
    ) -> RewardInput:
        return reward_input(
            self.verifier, self.tokenizer, question, thinking, answer, delimiter, self.step_tag_id
        )

    def score(self, inputs: Sequence[RewardInput]) -> list[Scored]:
        import httpx
        import torch

        if not inputs:
            return []
        body = {
            "model": self.verifier.served_model or self.verifier.name,
            "input": [list(i.prompt_token_ids) for i in inputs],
            "task": "token_classify",
        }
        started = time.perf_counter()
        reply = httpx.post(f"{self.url}/pooling", json=body, timeout=self.timeout_s)
        self.busy_seconds += time.perf_counter() - started
        if reply.status_code != 200:
            raise RuntimeError(
                f"the verifier's server answered {reply.status_code} on /pooling: "
                f"{reply.text[:200]}"
            )
        data = sorted(reply.json()["data"], key=lambda d: d["index"])
        return [
            Scored(
                _good_scores(self.verifier, self.label_token_ids, item, torch.tensor(d["data"])),
                len(item.prompt_token_ids),
            )
            for item, d in zip(inputs, data, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        return {"verifier": self.verifier.name, "kind": "served", "base_url": self.url}

    def close(self) -> None:
        pass


def make_reward_engine(verifier: VerifierConfig, engine_cfg: EngineConfig) -> Any:
    """The verifier's engine: its server where it names one; the fake one with
    the fake policy engine; else vLLM's pooling runner beside the policy's."""
    if verifier.base_url:
        # The engine's own timeout where it talks to servers too.
        timeout_s = getattr(engine_cfg, "request_timeout_s", OpenAIEngineConfig.request_timeout_s)
        return ServedRewardEngine(verifier, timeout_s)
    if traits(engine_cfg.kind).scripted:
        return FakeRewardEngine(verifier, seed=engine_cfg.seed)
    if not traits(engine_cfg.kind).runs_model:
        raise ConfigError(
            f"strategy.verifier={verifier.name} runs on vLLM's pooling runner; with "
            f"engine={engine_cfg.kind} use engine=vllm or engine=vllm_cpu"
        )
    return VLLMRewardEngine(verifier, engine_cfg)
