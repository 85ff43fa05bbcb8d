"""A local OpenAI-compatible completions server for tests: the scripted fake
engine behind vLLM's `/v1/completions` wire format, with faults on demand.

`faults(request_number, tries_of_this_body, body)` decides what each HTTP request
gets: None (a good answer), an int status (with Retry-After: 0 for 429),
"slow" (sleep past the client's timeout, then answer), "malformed" (broken
JSON), or "choices" (valid JSON without choices). Every request is logged,
so tests can count retries and check nothing was asked twice once answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.engines.fake import FakeEngine
from bench.types import GenerationRequest

Fault = Callable[[int, int, dict[str, Any]], Any]


# reasoning_effort levels as thinking budgets, for the scripted model.
EFFORT_BUDGETS = {"low": 16, "medium": 64, "high": 256}


class _Server(ThreadingHTTPServer):
    # The engine opens up to engine.concurrency (64) connections at once; the
    # default listen backlog of 5 made bursts of them fail to connect now and
    # then (retried, but a test of "no retries" then failed by chance).
    request_queue_size = 256


class ScriptedServer:
    def __init__(
        self,
        faults: Fault | None = None,
        slow_s: float = 2.0,
        forced_answer: str | None = None,
        ignore_budget: bool = False,
        reasoning_field: str = "reasoning",
        report_reasoning_tokens: bool = True,
        token_ids: bool = True,
    ) -> None:
        self.engine = FakeEngine(forced_answer=forced_answer)
        self.faults = faults or (lambda number, tries, body: None)
        self.ignore_budget = ignore_budget  # like a server that does not know the knob
        self.token_ids = token_ids  # False: a server without vLLM's return_token_ids
        self.prompts: list[tuple[int, ...]] = []  # every answered request's prompt
        # Chat: where the reasoning text goes, and whether usage counts it.
        self.reasoning_field = reasoning_field
        self.report_reasoning_tokens = report_reasoning_tokens
        self.chat_bodies: list[dict[str, Any]] = []
        self.authorization: set[str | None] = set()  # Authorization headers seen
        self.slow_s = slow_s
        self.lock = threading.Lock()
        self.tries: Counter = Counter()  # body hash -> requests seen
        self.answered: Counter = Counter()  # body hash -> good answers sent
        self.statuses: Counter = Counter()
        self.count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                # The client may have given up already (a timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.endswith("/version"):
                    self._send(200, json.dumps({"version": "scripted-1"}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.authorization.add(self.headers.get("Authorization"))
                self._send(*server.handle(self.path, raw))

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, path: str, raw: bytes) -> tuple[int, bytes, dict[str, str] | None]:
        digest = hashlib.sha256(raw).hexdigest()
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, b'{"error": "bad json"}', None
        with self.lock:
            self.count += 1
            number = self.count
            self.tries[digest] += 1
            fault = self.faults(number, self.tries[digest], body)
        if not path.endswith("/completions"):
            return 404, b'{"error": "not found"}', None
        if path.endswith("/chat/completions"):
            return 200, self.chat(body), None
        if isinstance(fault, int):
            with self.lock:
                self.statuses[fault] += 1
            return fault, b'{"error": {"message": "scripted fault"}}', {"Retry-After": "0"}
        if fault == "malformed":
            return 200, b'{"choices": [{"text": "cut off', None
        if fault == "choices":
            return 200, b'{"object": "text_completion"}', None
        if fault == "slow":
            time.sleep(self.slow_s)
        request = GenerationRequest(
            prompt_ids=tuple(body["prompt"]),
            max_tokens=body["max_tokens"],
            temperature=body.get("temperature") or 0.0,
            top_p=body.get("top_p") or 1.0,
            stop=tuple(body.get("stop") or ()),
            n=body.get("n", 1),
            seed=body.get("seed"),
            thinking_token_budget=None if self.ignore_budget else body.get("thinking_token_budget"),
        )
        completions = self.engine.complete(request)
        choices = []
        for index, c in enumerate(completions):
            choice = {
                "index": index,
                "text": c.text,
                "finish_reason": c.finish_reason,
                "stop_reason": c.stop_reason,
            }
            if body.get("return_token_ids") and self.token_ids:
                choice["token_ids"] = list(c.token_ids)
                choice["prompt_token_ids"] = list(request.prompt_ids)
            choices.append(choice)
        usage = {
            "prompt_tokens": len(request.prompt_ids),
            "completion_tokens": sum(len(c.token_ids) for c in completions),
        }
        with self.lock:
            self.answered[digest] += 1
            self.prompts.append(request.prompt_ids)
        payload = {"object": "text_completion", "model": body["model"], "choices": choices}
        return 200, json.dumps(payload | {"usage": usage}).encode(), None

    def chat(self, body: dict[str, Any]) -> bytes:
        """A reasoning API: thinking text split off beside the answer, usage counts."""
        tokenizer = self.engine.tokenizer
        prompt = tuple(tokenizer.encode(tokenizer.render_chat(body["messages"])))
        budget = body.get("thinking_token_budget")
        if body.get("reasoning_effort"):
            budget = EFFORT_BUDGETS[body["reasoning_effort"]]
        request = GenerationRequest(
            prompt_ids=prompt,
            max_tokens=body["max_tokens"],
            temperature=body.get("temperature") or 0.0,
            seed=body.get("seed"),
            thinking_token_budget=None if self.ignore_budget else budget,
        )
        completion = self.engine.complete(request)[0]
        text = completion.text
        at = text.find("Final answer:")
        # The line break before the answer line (ours or a forced one) ends the reasoning.
        reasoning, content = (text, "") if at < 0 else (text[:at].rstrip("\n"), text[at:])
        message = {"role": "assistant", "content": content, self.reasoning_field: reasoning}
        usage: dict[str, Any] = {
            "prompt_tokens": len(prompt),
            "completion_tokens": len(completion.token_ids),
        }
        if self.report_reasoning_tokens:
            usage["completion_tokens_details"] = {
                "reasoning_tokens": len(tokenizer.encode(reasoning))
            }
        with self.lock:
            self.chat_bodies.append(body)
        choice = {"index": 0, "message": message, "finish_reason": completion.finish_reason}
        return json.dumps(
            {"object": "chat.completion", "choices": [choice], "usage": usage}
        ).encode()
