"""The chat-completions wire format (`engine.api=chat`): hosted reasoning
APIs and `vllm serve --reasoning-parser ...`, which return the thinking as
text beside the answer, and token counts only as usage.

Reasoning text is `message.reasoning` (vLLM >= 0.11, OpenRouter) or the
older `message.reasoning_content`; its length is
`usage.completion_tokens_details.reasoning_tokens`. One request per sample
(n=1), so each sample's usage is its own.

The budget goes out through the model config's knob:
- max_tokens: a cap on reasoning + answer (the answer gets answer_max_tokens);
- reasoning_effort: the model's effort level mapped from the budget
  (model.reasoning_effort: {budget: level});
- thinking_token_budget: vLLM's own field, as an extra body field.
None of them is a guarantee: the adherence summary reports attempts that
thought past their budget, as a warning for chat runs.
"""

from __future__ import annotations

from typing import Any

from bench.types import Completion, GenerationRequest


def chat_body(request: GenerationRequest, served_model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": served_model,
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "n": 1,
    }
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.seed is not None:
        body["seed"] = request.seed
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.thinking_token_budget is not None:
        body["thinking_token_budget"] = request.thinking_token_budget
    return body


def chat_completion(payload: dict[str, Any]) -> tuple[Completion, str]:
    """The one choice of a chat response, and where its counts came from.
    Raises KeyError/TypeError/ValueError on a response without what we need."""
    choice = payload["choices"][0]
    message = choice["message"]
    reasoning = message.get("reasoning")
    if reasoning is None:
        reasoning = message.get("reasoning_content")
    usage = payload["usage"]
    details = usage.get("completion_tokens_details") or {}
    reasoning_tokens = details.get("reasoning_tokens")
    completion = Completion(
        token_ids=(),
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=int(usage["prompt_tokens"]),
        reasoning_text=reasoning or "",
        reasoning_tokens=int(reasoning_tokens) if reasoning_tokens is not None else None,
        completion_tokens=int(usage["completion_tokens"]),
    )
    return completion, "usage" if reasoning_tokens is not None else "local encoding"
