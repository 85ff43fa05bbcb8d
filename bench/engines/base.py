"""The Engine protocol: token ids in, token ids out, one big batch per call."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any, Protocol

from bench.types import Completion, GenerationRequest


class Tokenizer(Protocol):
    eos_token_id: int | None

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without adding special tokens."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens skipped."""

    def render_chat(self, messages: list[dict[str, str]], **template_kwargs: Any) -> str:
        """The prompt text for a chat, ending where the assistant starts to write."""


class EngineStream(Protocol):
    """Requests in, finished completions out, as they finish.

    Requests submitted while iterating join the running batch: a strategy can
    send the answer continuation of a chain the moment that chain ends, so the
    engine never idles waiting for the slowest chain of a batch.
    """

    def submit(self, tag: Hashable, request: GenerationRequest) -> None: ...

    def __iter__(self) -> Iterator[tuple[Hashable, list[Completion]]]:
        """Yield (tag, the request's n samples) until nothing submitted is left."""


def generate_all(
    engine: Engine, requests: Sequence[GenerationRequest], desc: str
) -> list[list[Completion]]:
    """One batch through a stream, results in request order."""
    stream = engine.stream(desc=desc)
    for index, request in enumerate(requests):
        stream.submit(index, request)
    results: list[list[Completion]] = [[] for _ in requests]
    for index, completions in stream:
        results[index] = completions  # type: ignore[index]
    return results


class Engine(Protocol):
    # Whether GenerationRequest.seed is honoured per request (else seeded once per engine).
    supports_request_seed: bool
    # True: prompts are chat messages the server renders (engine.api=chat).
    chat: bool
    # Where completions' token ids come from ("engine ids" for local engines;
    # a server may have none, see engines/openai.py).
    token_source: str

    @property
    def tokenizer(self) -> Tokenizer: ...

    def stream(self, *, desc: str = "generate") -> EngineStream:
        """A running batch that takes requests and yields them as they finish."""

    def generate(
        self, requests: Sequence[GenerationRequest], *, desc: str = "generate"
    ) -> list[list[Completion]]:
        """Decode every request in one batch; result i holds request i's n samples."""

    def describe(self) -> dict[str, Any]:
        """What the manifest and the record keys need: kind, version, options."""

    def request_report(self) -> dict[str, Any] | None:
        """Served engines: requests sent, retried and failed ("failed": reason ->
        count), by the manifest's `engine_requests`; None for local engines."""

    def close(self) -> None: ...
