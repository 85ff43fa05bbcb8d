"""The floor beside a ratio: what the engine work alone predicts.

A timed ratio (the reuse sweep / one run at the largest budget) mixes waste
with physics: the sweep decodes a forced answer per cut budget and prefills
its cue, which the single run never does. So each side's work is counted
from what the engine itself returned (prompt tokens submitted, of those the
ones its prefix cache served, tokens decoded), and priced at the engine's
own per-token costs measured apart (a prefill probe and a decode probe on
the same prompts, raw LLM.generate, mirrored). The floor is the ratio those
prices give; measured / floor is what is ours to close:

    seconds(work) = prefilled tokens x prefill_s + decoded tokens x decode_s
    floor         = seconds(work of A) / seconds(work of B)

The token floor prices every decoded token alike. On an engine whose step
costs much the same whether it carries 30 chains or 3 (a CPU reading the
weights once a step), a run whose batch thins out (the reuse sweep's last
steps carry only the chains that think longest) pays more per token than
that. The step floor prices what the engine ran instead: each step at its
fixed cost plus a cost per request alive in it (both measured from decode
probes at a full and at a single-request batch), plus the prefill:

    step seconds(work) = steps x step_s + requests alive, summed over
                         steps, x request_s + prefilled tokens x prefill_s
    step floor         = step seconds(work of A) / step seconds(work of B)

Where the measured ratio meets the step floor but not the token floor, the
gap is the engine's batch physics, not time of ours.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Work:
    """What one timed run made the engine do."""

    requests: int = 0
    prompt_tokens: int = 0  # submitted, once per request (its samples share the prompt)
    cached_tokens: int = 0  # of those, served by the prefix cache
    decoded_tokens: int = 0  # generated, every sample
    # Engine steps, and the requests alive at each one summed (engines that
    # count them: vLLM's; 0 elsewhere, and then there is no step floor).
    steps: int = 0
    step_requests: int = 0

    @property
    def prefilled(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    def __add__(self, other: Work) -> Work:
        return Work(
            self.requests + other.requests,
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.decoded_tokens + other.decoded_tokens,
            self.steps + other.steps,
            self.step_requests + other.step_requests,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self) | {"prefilled_tokens": self.prefilled}


@dataclass(frozen=True)
class TokenCosts:
    """The engine's seconds per token, prefill and decode measured apart; and
    per step: its fixed cost and its cost per request alive (None: unmeasured)."""

    prefill_s: float
    decode_s: float
    step_s: float | None = None
    request_s: float | None = None

    def seconds(self, work: Work) -> float:
        return work.prefilled * self.prefill_s + work.decoded_tokens * self.decode_s

    def step_seconds(self, work: Work) -> float | None:
        """The work priced by the steps the engine ran; None without step counts."""
        if self.step_s is None or self.request_s is None or not work.steps:
            return None
        return (
            work.steps * self.step_s
            + work.step_requests * self.request_s
            + work.prefilled * self.prefill_s
        )


def floor_ratio(a: Work, b: Work, costs: TokenCosts) -> float:
    """The ratio of A's time to B's that their engine work alone predicts."""
    below = costs.seconds(b)
    if below <= 0:
        raise ValueError("the denominator's work costs nothing: no floor")
    return costs.seconds(a) / below


def step_floor_ratio(a: Work, b: Work, costs: TokenCosts) -> float | None:
    """The ratio the steps each side ran predict; None where a side has no step counts."""
    above, below = costs.step_seconds(a), costs.step_seconds(b)
    if above is None or below is None or below <= 0:
        return None
    return above / below


def read_against(measured: float, floor: float) -> dict[str, float]:
    return {"floor": round(floor, 4), "vs_floor": round(measured / floor, 4)}


class CountingEngine:
    """Passes a strategy's streams through to an engine, adds up the work its
    completions report (cached tokens where the engine says: vLLM does) and
    keeps every request, grouped by the kind its tag names ("think",
    "answer"), so the overhead pair can replay them raw."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.supports_request_seed = engine.supports_request_seed
        self.work = Work()
        self.requests: dict[str, list[Any]] = {}

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    def __getattr__(self, name: str) -> Any:  # everything else is the engine's
        return getattr(self.engine, name)

    def stream(self, *, desc: str = "generate") -> Any:
        inner = self.engine.stream(desc=desc)
        work, requests, engine = self.work, self.requests, self.engine

        class _Counting:
            def submit(self, tag: Any, request: Any) -> None:
                kind = tag[0] if isinstance(tag, tuple) else tag
                requests.setdefault(str(kind), []).append(request)
                inner.submit(tag, request)

            def __iter__(self) -> Any:
                steps, alive = _step_counts(engine)
                try:
                    for tag, completions in inner:
                        add_completions(work, completions)
                        yield tag, completions
                finally:
                    after, alive_after = _step_counts(engine)
                    work.steps += after - steps
                    work.step_requests += alive_after - alive

        return _Counting()


def _step_counts(engine: Any) -> tuple[int, int]:
    """The engine's step counters so far (vLLM's; (0, 0) for engines without)."""
    return getattr(engine, "steps", 0), getattr(engine, "step_requests", 0)


def add_completions(work: Work, completions: Sequence[Any]) -> None:
    """One request's samples: its prompt (and cache hits) once, every sample's tokens."""
    first = completions[0] if completions else None
    work.requests += 1
    if first is not None:
        work.prompt_tokens += first.prompt_tokens or 0
        work.cached_tokens += first.cached_tokens or 0
    work.decoded_tokens += sum(len(c.token_ids) for c in completions)


def raw_work(outputs: Sequence[Any]) -> Work:
    """The work of raw LLM.generate outputs (vLLM RequestOutputs)."""
    work = Work()
    for output in outputs:
        work.requests += 1
        work.prompt_tokens += len(output.prompt_token_ids or ())
        work.cached_tokens += output.num_cached_tokens or 0
        work.decoded_tokens += sum(len(o.token_ids) for o in output.outputs)
    return work


DECODE_PROBE_TOKENS = 64


def token_costs(engine: Any, prompts: Sequence[Sequence[int]]) -> tuple[TokenCosts, dict]:
    """Prefill and decode seconds per token on `prompts`, from a cold cache:
    a prefill probe (one token each) and a decode probe (DECODE_PROBE_TOKENS
    each, end of sequence ignored), in mirrored order. The same two on the
    first prompt alone give a step's cost with one request alive, which with
    the full batch's splits a step into its fixed part and a part per request."""
    from bench.types import GenerationRequest

    def probe(tokens: int, batch: Sequence[Sequence[int]]) -> tuple[float, Work]:
        params = engine.sampling_params(GenerationRequest(batch[0], max_tokens=tokens))
        params.ignore_eos = True
        engine.reset_prefix_cache()
        started = time.perf_counter()
        outputs = engine.raw_generate(batch, params)
        return time.perf_counter() - started, raw_work(outputs)

    def mirrored(batch: Sequence[Sequence[int]]) -> tuple[float, float, Work, Work]:
        """Mean seconds of the 1-token and the long probe, and their work."""
        seconds: dict[int, list[float]] = {1: [], DECODE_PROBE_TOKENS: []}
        works: dict[int, Work] = {}
        for tokens in (1, DECODE_PROBE_TOKENS, DECODE_PROBE_TOKENS, 1):
            took, works[tokens] = probe(tokens, batch)
            seconds[tokens].append(took)
        return (
            sum(seconds[1]) / 2,
            sum(seconds[DECODE_PROBE_TOKENS]) / 2,
            works[1],
            works[DECODE_PROBE_TOKENS],
        )

    prefill_t, decode_t, one, many = mirrored(prompts)
    decode_s = (decode_t - prefill_t) / max(1, many.decoded_tokens - one.decoded_tokens)
    prefill_s = max(prefill_t - one.decoded_tokens * decode_s, 0.0) / max(1, one.prefilled)
    # A decode step with every prompt alive, and with one: the step's fixed
    # cost and its cost per request (a line through the two).
    full_step = (decode_t - prefill_t) / (DECODE_PROBE_TOKENS - 1)
    single_prefill_t, single_decode_t, _, _ = mirrored(prompts[:1])
    single_step = (single_decode_t - single_prefill_t) / (DECODE_PROBE_TOKENS - 1)
    alive = len(prompts)
    request_s = max(full_step - single_step, 0.0) / max(alive - 1, 1)
    step_s = max(single_step - request_s, 0.0)
    costs = TokenCosts(prefill_s, decode_s, step_s, request_s)
    details = {
        "prefill_seconds_per_token": prefill_s,
        "decode_seconds_per_token": decode_s,
        "step_seconds_fixed": step_s,
        "step_seconds_per_request": request_s,
        "decode_step_seconds": {"1": round(single_step, 6), str(alive): round(full_step, 6)},
        "prefill_probe_seconds": round(prefill_t, 3),
        "decode_probe_seconds": round(decode_t, 3),
        "probe_prompts": alive,
        "probe_prompt_tokens": one.prompt_tokens,
    }
    return costs, details
