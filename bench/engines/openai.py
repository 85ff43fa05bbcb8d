"""Any OpenAI-compatible completions server (`engine=openai`): a `vllm serve`
fleet, or another server that takes token-id prompts.

The same strategies as the offline engine run unchanged: prompts go out as
token ids to `/v1/completions`, and with vLLM's `return_token_ids` the
server's own token ids come back, so budgets are cut on exactly the tokens
the model produced. A server that returns no ids is still usable: ids then
come from `logprobs` (vLLM's "token_id:N" tokens) or, last, from encoding
the text locally, and `token_source` says which (the run's manifest too).

With engine.api=chat the same engine speaks chat completions instead
(hosted reasoning APIs; wire format in engines/chat.py, strategy=api).

Requests run on an asyncio loop in a background thread (engines/http.py)
with bounded concurrency; 429s, 5xx, timeouts, dropped connections and
malformed JSON are retried with exponential backoff (a 429's Retry-After is
honoured). A request
that still fails is reported, never silently dropped: its problem is not
stored (a re-run of the same command retries exactly those), the sweep ends
with a one-line error and the manifest lists the failures by reason. Other
4xx answers mean the request itself is wrong (a bad key, an unknown model):
the stream stops at the first one.

Several base URLs (data-parallel replicas) share the work by affinity: all
requests of one problem go to the same replica, so its prefix cache serves
every budget's answer continuation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from functools import cached_property
from typing import Any

from tqdm import tqdm

from bench.config.engines import OpenAIEngineConfig
from bench.config.schema import ConfigError, ModelConfig
from bench.engines.base import generate_all
from bench.engines.certainty import self_certainty
from bench.engines.http import (
    LoopThread,
    RequestFailed,
    RetryPolicy,
    ServerRejected,
    post_with_retries,
)
from bench.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

# Where each completion's token counts came from, best first: the server's
# ids, logprobs tokens, a chat API's usage, our own encoding of the text.
TOKEN_SOURCES = ("server ids", "logprobs", "usage", "local encoding")


class OpenAIEngine:
    def __init__(
        self, engine_cfg: OpenAIEngineConfig, model_cfg: ModelConfig, native_budget: bool = False
    ) -> None:
        self.cfg = engine_cfg
        self.model_cfg = model_cfg
        self.native_budget = native_budget
        urls = list(engine_cfg.base_urls or []) or (
            [engine_cfg.base_url] if engine_cfg.base_url else []
        )
        if not urls:
            raise ConfigError(
                "engine=openai needs a server: set engine.base_url=http://HOST:PORT/v1 "
                "(or engine.base_urls=[...] for replicas, or OPENAI_BASE_URL)"
            )
        self.urls = [u.rstrip("/") for u in urls]
        self.served_model = engine_cfg.served_model or model_cfg.name
        # Chat APIs take messages and return reasoning text + usage (engines/chat.py).
        self.chat = engine_cfg.api == "chat"
        self.supports_request_seed = bool(engine_cfg.request_seeds)
        self.policy = RetryPolicy(
            engine_cfg.max_retries,
            engine_cfg.backoff_s,
            engine_cfg.backoff_max_s,
            engine_cfg.request_timeout_s,
        )
        # What the run reports: retries and failures by reason, token id sources.
        self.retries: Counter = Counter()
        self.failures: Counter = Counter()
        self.failed_examples: list[str] = []
        self.token_sources: Counter = Counter()
        self.requests_sent = 0
        self._loop: LoopThread | None = None
        self._clients: list[Any] = []

    # The name the runner writes into each record's token_source column.
    @property
    def token_source(self) -> str:
        seen = [s for s in TOKEN_SOURCES if self.token_sources[s]]
        return seen[-1] if seen else TOKEN_SOURCES[0]

    @cached_property
    def tokenizer(self) -> Any:
        if self.cfg.tokenizer == "bytes":  # the scripted test server speaks bytes
            from bench.engines.fake import ByteTokenizer

            return ByteTokenizer()
        from bench.engines import models
        from bench.engines.vllm import HFTokenizer

        try:
            path = models.prepare(self.model_cfg.source)
        except models.ModelSourceError as exc:
            raise ConfigError(
                f"engine=openai needs model {self.model_cfg.name}'s tokenizer here ({exc})"
            ) from None
        return HFTokenizer(path, self.model_cfg.revision)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env or "", "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def server_version(self) -> str:
        """vLLM servers answer GET /version; others get "unknown". Also the
        first contact: an unreachable server stops the sweep here, in one line."""
        import httpx

        root = self.urls[0].removesuffix("/v1")
        try:
            response = httpx.get(f"{root}/version", headers=self._headers(), timeout=10)
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"cannot reach the server at {self.urls[0]} ({type(exc).__name__}); "
                "start it or fix engine.base_url"
            ) from None
        if response.status_code == 200:
            try:
                return str(response.json().get("version", "unknown"))
            except (ValueError, AttributeError):
                return "unknown"
        return "unknown"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "openai",
            "device": self.cfg.device,
            "version": self.server_version(),
            "served_model": self.served_model,
            "replicas": len(self.urls),
            "dtype": None,
            "api": self.cfg.api,
            "budget_knob": self.model_cfg.budget_knob
            if self.chat
            else "thinking_token_budget (extra body)"
            if self.native_budget
            else "max_tokens (cut, then forced answer)",
            "seeding": "per request" if self.supports_request_seed else "server seed",
        }

    def request_report(self) -> dict[str, Any]:
        """For the manifest: how the requests went."""
        return {
            "sent": self.requests_sent,
            "retries": dict(self.retries),
            "failed": dict(self.failures),
            "failed_examples": self.failed_examples[:5],
            "token_sources": dict(self.token_sources),
        }

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.served_model,
            "prompt": list(request.prompt_ids),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "n": request.n,
            # vLLM extensions: the stop string stays in the text and ids (as
            # offline), and the server's token ids come back.
            "include_stop_str_in_output": True,
            "skip_special_tokens": True,
        }
        if request.top_k is not None:
            body["top_k"] = request.top_k  # a vLLM server extension
        if request.stop:
            body["stop"] = list(request.stop)
        if self.cfg.return_token_ids:
            body["return_token_ids"] = True
        if request.seed is not None and self.supports_request_seed:
            body["seed"] = request.seed
        if request.logprobs:
            body["logprobs"] = request.logprobs
        if request.thinking_token_budget is not None:
            body["thinking_token_budget"] = request.thinking_token_budget
        body.update(dict(self.cfg.extra_body or {}))
        return body

    def completions(self, request: GenerationRequest, payload: dict[str, Any]) -> list[Completion]:
        usage = payload.get("usage") or {}
        out = []
        for choice in sorted(payload["choices"], key=lambda c: c.get("index", 0)):
            text = choice.get("text") or ""
            ids, source = self._token_ids(choice, text)
            self.token_sources[source] += 1
            stop_reason = choice.get("stop_reason")
            if stop_reason is None and choice.get("finish_reason") == "stop":
                # Servers without vLLM's stop_reason: the stop string that ends the text.
                stop_reason = next((s for s in request.stop if text.endswith(s)), None)
            prompt_ids = choice.get("prompt_token_ids")
            logprobs = choice.get("logprobs") or {}
            out.append(
                Completion(
                    token_ids=ids,
                    text=text,
                    finish_reason=choice.get("finish_reason") or "stop",
                    stop_reason=stop_reason,
                    prompt_tokens=len(prompt_ids)
                    if prompt_ids is not None
                    else usage.get("prompt_tokens"),
                    token_certainty=tuple(
                        self_certainty(list(top.values())) for top in logprobs["top_logprobs"]
                    )
                    if logprobs.get("top_logprobs")
                    else None,
                )
            )
        return out

    def _token_ids(self, choice: dict[str, Any], text: str) -> tuple[tuple[int, ...], str]:
        if choice.get("token_ids") is not None:
            return tuple(int(i) for i in choice["token_ids"]), "server ids"
        tokens = (choice.get("logprobs") or {}).get("tokens") or []
        if tokens and all(str(t).startswith("token_id:") for t in tokens):
            return tuple(int(str(t)[9:]) for t in tokens), "logprobs"
        return tuple(self.tokenizer.encode(text)), "local encoding"

    def _start(self) -> LoopThread:
        if self._loop is None:
            import httpx

            self._loop = LoopThread()
            limits = httpx.Limits(max_connections=self.cfg.concurrency)

            async def make_clients() -> list[Any]:
                return [
                    httpx.AsyncClient(base_url=url, headers=self._headers(), limits=limits)
                    for url in self.urls
                ]

            self._clients = self._loop.submit(make_clients()).result()
            self._semaphore = asyncio.Semaphore(self.cfg.concurrency)
        return self._loop

    def replica(self, request: GenerationRequest) -> int:
        """All requests of one problem to one replica (its prefix cache)."""
        if request.affinity is None:
            return hash(tuple(request.prompt_ids[:64])) % len(self.urls)
        return request.affinity % len(self.urls)

    async def _request(self, request: GenerationRequest) -> list[Completion]:
        from bench.engines.chat import chat_body, chat_completion

        client = self._clients[self.replica(request)]
        if self.chat:
            path = "/chat/completions"
            body = chat_body(request, self.served_model) | dict(self.cfg.extra_body or {})
        else:
            path, body = "/completions", self.body(request)
        async with self._semaphore:
            self.requests_sent += 1
            payload = await post_with_retries(client, path, body, self.policy, self.retries)
        try:
            if self.chat:
                completion, source = chat_completion(payload)
                self.token_sources[source] += 1
                return [completion]
            return self.completions(request, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise RequestFailed("malformed response", repr(exc)[:120], retryable=False) from None

    def stream(self, *, desc: str = "generate") -> OpenAIStream:
        return OpenAIStream(self, desc)

    def generate(
        self, requests: Sequence[GenerationRequest], *, desc: str = "generate"
    ) -> list[list[Completion]]:
        return generate_all(self, requests, desc)

    def close(self) -> None:
        if self._loop is None:
            return

        async def close_clients() -> None:
            for client in self._clients:
                await client.aclose()

        try:
            self._loop.submit(close_clients()).result(timeout=10)
        except Exception as exc:  # closing must never mask the run's own outcome
            log.warning("closing HTTP clients: %s", exc)
        self._loop.stop()
        self._loop = None


class OpenAIStream:
    """Requests in flight on the engine's loop; finished ones come back in
    completion order through a queue."""

    def __init__(self, owner: OpenAIEngine, desc: str) -> None:
        self.owner = owner
        self.loop = owner._start()
        self.done: queue.Queue = queue.Queue()
        self.futures: dict[int, Any] = {}
        self._next = 0
        self.bar = tqdm(total=0, desc=desc, unit="req", disable=not owner.cfg.show_progress)

    def submit(self, tag: Hashable, request: GenerationRequest) -> None:
        number = self._next
        self._next += 1

        async def run() -> None:
            try:
                result: Any = await self.owner._request(request)
            except RequestFailed as exc:
                result = exc
            except Exception as exc:  # anything else must still reach the sweep
                result = RequestFailed("client error", repr(exc)[:200], retryable=False)
            self.done.put((number, tag, result))

        self.futures[number] = self.loop.submit(run())
        self.bar.total += 1

    def __iter__(self) -> Iterator[tuple[Hashable, list[Completion]]]:
        owner = self.owner
        try:
            while self.futures:
                number, tag, result = self.done.get()
                self.futures.pop(number, None)
                self.bar.update(1)
                if isinstance(result, RequestFailed):
                    if not result.retryable and result.reason.startswith("HTTP 4"):
                        raise ServerRejected(
                            f"the server at {owner.urls[0]} rejected a request: {result} "
                            "(check engine.served_model, engine.api_key_env and engine.extra_body)"
                        )
                    owner.failures[result.reason] += 1
                    owner.failed_examples.append(str(result)[:200])
                    continue
                yield tag, result
        finally:
            for future in self.futures.values():  # abandoned mid-way: stop what is in flight
                future.cancel()
            self.futures.clear()
            self.bar.close()


__all__ = ["OpenAIEngine", "OpenAIStream"]
