"""Talking to an HTTP server that misbehaves: what counts as retryable, how
long to back off, and an asyncio loop of our own so a synchronous sweep can
keep many requests in flight. Used by the openai engine."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any


class RequestFailed(Exception):
    """One request gave up: `reason` is short and countable ("HTTP 500", "timeout")."""

    def __init__(self, reason: str, detail: str = "", retryable: bool = True) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.retryable = retryable


class ServerRejected(RuntimeError):
    """The server refused a request as malformed or unauthorised: every other
    request would fail the same way, so the sweep stops with this message."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_s: float
    backoff_max_s: float
    timeout_s: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; never shorter than a server's Retry-After."""
        delay = min(self.backoff_max_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


async def post_with_retries(
    client: Any, url: str, body: dict[str, Any], policy: RetryPolicy, counts: Counter
) -> dict[str, Any]:
    """POST `body` until a well-formed completion comes back or retries run out.
    `counts` tallies every retry's reason (the run reports them)."""
    import httpx

    attempt = 0
    while True:
        retry_after = None
        try:
            response = await client.post(url, json=body, timeout=policy.timeout_s)
            if response.status_code in (408, 429) or response.status_code >= 500:
                retry_after = _retry_after(response.headers.get("retry-after"))
                raise RequestFailed(f"HTTP {response.status_code}", response.text[:200])
            if response.status_code >= 400:
                raise RequestFailed(
                    f"HTTP {response.status_code}", response.text[:300], retryable=False
                )
            try:
                payload = response.json()
            except ValueError:
                raise RequestFailed("malformed JSON", response.text[:80]) from None
            choices = payload.get("choices") if isinstance(payload, dict) else None
            if not isinstance(choices, list) or len(choices) != body.get("n", 1):
                raise RequestFailed("malformed response", "missing or wrong number of choices")
            return payload
        except httpx.TimeoutException:
            failure = RequestFailed("timeout", f"no answer within {policy.timeout_s} s")
        except httpx.TransportError as exc:
            failure = RequestFailed("connection", type(exc).__name__)
        except RequestFailed as exc:
            failure = exc
        if not failure.retryable or attempt >= policy.max_retries:
            raise failure
        counts[failure.reason] += 1
        await asyncio.sleep(policy.delay(attempt, retry_after))
        attempt += 1


class LoopThread:
    """An asyncio loop of our own in a daemon thread, so a synchronous sweep can
    keep many requests in flight."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def describe_failures(failures: Counter) -> str:
    return ", ".join(f"{reason} x{count}" for reason, count in failures.most_common())
