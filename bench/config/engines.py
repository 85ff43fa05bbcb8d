"""What each kind of engine can do, asked by name of the ability instead of
comparing `engine.kind` strings across the code. The engines themselves are
built in bench/engines/__init__.py from the same names (a test holds the two
to one set of kinds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineTraits:
    # Loads the model in this process (or processes it starts): a reward model
    # can run beside it on vLLM's pooling runner, and it has device costs.
    runs_model: bool
    # Talks to a server: its budget knobs may be ignored, and a chat API
    # (engine.api=chat) is possible.
    remote: bool
    # Writes scripted text for tests and dry runs: no model, no server.
    scripted: bool
    # Holds processes that must die with the sweep (vLLM's engine core, HTTP
    # pools to replicas it started): a watchdog guards them.
    needs_watchdog: bool


ENGINE_TRAITS = {
    "vllm": EngineTraits(runs_model=True, remote=False, scripted=False, needs_watchdog=True),
    "openai": EngineTraits(runs_model=False, remote=True, scripted=False, needs_watchdog=True),
    "fake": EngineTraits(runs_model=False, remote=False, scripted=True, needs_watchdog=False),
}


def traits(kind: str) -> EngineTraits:
    try:
        return ENGINE_TRAITS[kind]
    except KeyError:
        raise ValueError(
            f"engine.kind={kind!r} is not known; choose one of: {', '.join(ENGINE_TRAITS)}"
        ) from None


def uses_chat_api(engine_cfg: Any) -> bool:
    """Messages in, reasoning text and usage out (engine=openai_chat)."""
    return traits(engine_cfg.kind).remote and engine_cfg.api == "chat"
