"""The Engine protocol: token ids in, token ids out, one big batch per call."""

from __future__ import annotations

from collections.abc import Sequence
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


class Engine(Protocol):
    # Whether GenerationRequest.seed is honoured per request (else seeded once per engine).
    supports_request_seed: bool

    @property
    def tokenizer(self) -> Tokenizer: ...

    def generate(
        self, requests: Sequence[GenerationRequest], *, desc: str = "generate"
    ) -> list[list[Completion]]:
        """Decode every request in one batch; result i holds request i's n samples."""

    def describe(self) -> dict[str, Any]:
        """What the manifest and the record keys need: kind, version, options."""

    def close(self) -> None: ...
