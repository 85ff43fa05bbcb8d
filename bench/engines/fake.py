"""A scripted, deterministic engine with a byte-level tokenizer of its own.

For unit tests and dry runs only: it needs no model files and answers in
microseconds. What it "thinks" comes from a script: a function from the
question to a `Script` (the thinking text, the answer it gives after ending
its thinking on its own, and the answer it gives when cut off early). The
default script derives everything from a hash of the prompt, so runs are
reproducible across processes.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.engines.base import generate_all
from bench.types import Completion, GenerationRequest

USER, ASSISTANT, END = "<|user|>\n", "<|assistant|>\n", "<|end|>\n"
EOS_ID = 2
_OFFSET = 3  # ids 0..2 are pad, bos, eos; byte b is id b + 3


class ByteTokenizer:
    """One token per UTF-8 byte: exact, reversible, no vocabulary file."""

    eos_token_id = EOS_ID

    def encode(self, text: str) -> list[int]:
        return [b + _OFFSET for b in text.encode("utf-8")]

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i - _OFFSET for i in ids if i >= _OFFSET).decode("utf-8", errors="replace")

    def render_chat(self, messages: list[dict[str, str]], **template_kwargs: Any) -> str:
        parts = []
        for message in messages:
            role = USER if message["role"] != "assistant" else ASSISTANT
            parts.append(role + message["content"] + "\n" + END)
        return "".join(parts) + ASSISTANT


@dataclass(frozen=True)
class Script:
    thinking: str  # what the model writes before its answer line
    answer: str  # the answer it writes after its own end of thinking (with the delimiter)
    early_answer: str  # what it answers when its thinking is cut off


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def default_script(question: str) -> Script:
    """Thinking of a hash-chosen length; answers carry no knowledge of the gold."""
    h = _hash_int(question)
    words = 4 + h % 40
    thinking = " ".join(f"step{i}" for i in range(words)) + ".\n"
    number = h % 1000
    return Script(thinking, f"Final answer: {number}\n", f" {number + 1}\n")


def code_script(question: str) -> Script:
    """A model that writes code: the body of the function the question starts
    (a HumanEval-style continuation). Its programs are wrong, but each runs the
    task's tests in the sandbox, as a real model's would: for grading benchmarks."""
    h = _hash_int(question)
    thinking = " ".join(f"step{i}" for i in range(4 + h % 40)) + ".\n"
    program = f"\n```python\n    return {h % 1000}\n```\n"
    return Script(thinking, "Final answer:" + program, program)


def _chain_writer() -> Callable[[str], Script]:
    from bench.engines.fake_chain import ChainWriter

    return ChainWriter(fallback=default_script)


SCRIPTS = {"default": default_script, "code": code_script, "chain": _chain_writer()}


def _shift_number(text: str, shift: int) -> str:
    match = re.search(r"-?\d+", text)
    if not match or not shift:
        return text
    return text[: match.start()] + str(int(match.group(0)) + shift) + text[match.end() :]


class FakeEngine:
    supports_request_seed = True
    chat = False
    token_source = "engine ids"

    def __init__(
        self,
        *,
        model_name: str = "fake",
        script: Callable[[str], Script] = default_script,
        delay_s: float = 0.0,
        forced_answer: str | None = None,
    ) -> None:
        self.model_name = model_name
        # Like vLLM's reasoning config: what a thinking_token_budget forces.
        self.forced_answer = forced_answer
        self.script = script
        self.delay_s = delay_s
        self._tokenizer = ByteTokenizer()
        self.calls: list[list[GenerationRequest]] = []  # what was asked, for tests

    @property
    def tokenizer(self) -> ByteTokenizer:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake", "version": "1", "model": self.model_name}

    def request_report(self) -> None:
        return None

    def close(self) -> None:
        pass

    def _continue(self, prompt: str, variant: int = 0) -> str:
        """The text the scripted model writes next, given everything so far.
        `variant` > 0 (sampling) shifts the numbers it answers, as if sampled."""
        user_start = prompt.rfind(USER)
        assistant_start = prompt.rfind(ASSISTANT)
        question = prompt[user_start + len(USER) : prompt.rfind(END, 0, assistant_start)]
        written = prompt[assistant_start + len(ASSISTANT) :]
        # A writer that continues any prefix (fake_chain.ChainWriter: search
        # assembles chains from steps of different samples).
        continuation = getattr(self.script, "continuation", None)
        if continuation is not None:
            text = continuation(question.strip(), written, variant)
            if text is not None:
                return text
        script = self.script(question)
        # A sampled chain says which take it is, so that its answer continuation
        # (decoded greedily, as variant 0) answers like that take.
        taken = re.match(r"take (\d+): ", written)
        variant = int(taken.group(1)) if taken else variant
        if variant:
            shift = _hash_int(f"{question}|{variant}") % 3 - 1  # -1, 0 or +1
            script = Script(
                f"take {variant}: " + script.thinking,
                _shift_number(script.answer, shift),
                _shift_number(script.early_answer, shift),
            )
        if written.rstrip().endswith(("Wait", "Wait,")):
            # Told to keep thinking (strategy=wait): check once more, then answer.
            return " let me check that again. " + script.answer
        full = script.thinking + script.answer
        if full.startswith(written):
            return full[len(written) :]
        # Our thinking was interrupted and an answer cue forced in: answer from
        # what we had, which is the early answer unless the thinking was complete.
        if written.startswith(script.thinking):
            return script.answer.split(":", 1)[-1] if ":" in script.answer else script.answer
        return script.early_answer

    def stream(self, *, desc: str = "generate") -> FakeStream:
        return FakeStream(self)

    def generate(
        self, requests: Sequence[GenerationRequest], *, desc: str = "generate"
    ) -> list[list[Completion]]:
        return generate_all(self, requests, desc)

    def complete(self, request: GenerationRequest) -> list[Completion]:
        prompt = self._tokenizer.decode(request.prompt_ids)
        sampled = request.temperature > 0
        completions = []
        for j in range(request.n):
            # Sampling: each sample a take of its own; a seed picks which takes
            # (so repeats under new seeds differ, and one seed repeats itself).
            variant = 0
            if sampled:
                variant = j if request.seed is None else 1 + (request.seed + j) % 1000
            text = self._continue(prompt, variant)
            if request.thinking_token_budget is not None:
                text = self._force_budget(prompt, text, request.thinking_token_budget)
            completion = self._finish(text, request)
            if request.logprobs:
                # A made-up but deterministic self-certainty per token.
                level = 0.5 + _hash_int(f"{prompt}|{j}") % 100 / 50
                completion = replace(
                    completion, token_certainty=(level,) * len(completion.token_ids)
                )
            completions.append(completion)
        return completions

    def _force_budget(self, prompt: str, text: str, budget: int) -> str:
        """What vLLM's thinking_token_budget does: at `budget` thinking tokens
        without an end of thinking, force the end string; the model answers."""
        if self.forced_answer is None:
            raise ValueError("thinking_token_budget needs a forced_answer (reasoning config)")
        end = text.find("Final answer:")
        thinking = text if end < 0 else text[:end]
        if len(self._tokenizer.encode(thinking)) <= budget:
            return text
        cut = self._tokenizer.decode(self._tokenizer.encode(thinking)[:budget])
        return cut + self.forced_answer + self._continue(prompt + cut + self.forced_answer)

    def _finish(self, text: str, request: GenerationRequest) -> Completion:
        ids = self._tokenizer.encode(text)
        ends_with_eos = True
        stop_reason: str | int | None = None
        # Like vLLM with include_stop_str_in_output: cut right after the first stop string.
        best = None
        for stop in request.stop:
            at = text.find(stop)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, stop)
        if best is not None:
            at, stop = best
            ids = self._tokenizer.encode(text[: at + len(stop)])
            ends_with_eos, stop_reason = False, stop
        if len(ids) >= request.max_tokens and (best is None or len(ids) > request.max_tokens):
            ids = ids[: request.max_tokens]
            return Completion(
                tuple(ids), self._tokenizer.decode(ids), "length", None, len(request.prompt_ids)
            )
        if ends_with_eos:
            ids = ids + [EOS_ID]
            if len(ids) > request.max_tokens:
                ids = ids[: request.max_tokens]
                return Completion(
                    tuple(ids), self._tokenizer.decode(ids), "length", None, len(request.prompt_ids)
                )
        return Completion(
            tuple(ids), self._tokenizer.decode(ids), "stop", stop_reason, len(request.prompt_ids)
        )


class FakeStream:
    """First in, first out, in waves like batch steps; `delay_s` is slept before
    each finished request, to simulate latency (and give kill tests a window),
    and then requests submitted meanwhile join the running batch at its front."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.queue: deque[tuple[Hashable, GenerationRequest]] = deque()
        self.waves: list[list[GenerationRequest]] = []

    def submit(self, tag: Hashable, request: GenerationRequest) -> None:
        self.queue.append((tag, request))

    def __iter__(self) -> Iterator[tuple[Hashable, list[Completion]]]:
        while self.queue:
            wave = list(self.queue)
            self.queue.clear()
            self.engine.calls.append([request for _, request in wave])
            running = deque(wave)
            while running:
                tag, request = running.popleft()
                if self.engine.delay_s:
                    time.sleep(self.engine.delay_s)
                yield tag, self.engine.complete(request)
                if self.engine.delay_s and self.queue:
                    # With latency modelled, requests submitted meanwhile join the
                    # running batch, as in vLLM: short answer continuations finish
                    # before the long chains still in the batch.
                    joined = list(self.queue)
                    self.queue.clear()
                    self.engine.calls.append([r for _, r in joined])
                    running.extendleft(reversed(joined))
