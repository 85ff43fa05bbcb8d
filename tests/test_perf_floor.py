"""bench perf's floors: the ratio the engine work alone predicts, checked on
counts computed by hand, the counting on the fake engine, the probe
arithmetic on a clock that charges known per-token costs, and --repeat's
median and range."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from helpers import bench

from bench.engines.fake import FakeEngine
from bench.perf import floor as floor_mod
from bench.perf.engine import summarize_rounds
from bench.perf.floor import (
    CountingEngine,
    TokenCosts,
    Work,
    floor_ratio,
    raw_work,
    read_against,
    token_costs,
)
from bench.types import GenerationRequest


def test_the_floor_is_the_priced_work_of_one_side_over_the_other():
    costs = TokenCosts(prefill_s=0.001, decode_s=0.01)
    sweep = Work(requests=31, prompt_tokens=5390, cached_tokens=4448, decoded_tokens=614)
    largest = Work(requests=16, prompt_tokens=2803, cached_tokens=2144, decoded_tokens=515)
    assert sweep.prefilled == 942 and largest.prefilled == 659
    # by hand: (942 * 0.001 + 614 * 0.01) / (659 * 0.001 + 515 * 0.01) = 7.082 / 5.809
    assert floor_ratio(sweep, largest, costs) == pytest.approx(7.082 / 5.809)
    assert read_against(1.31, 7.082 / 5.809) == {"floor": 1.2191, "vs_floor": 1.0745}
    # cache hits cost nothing: only prefilled tokens are priced
    hit = Work(requests=1, prompt_tokens=100, cached_tokens=100, decoded_tokens=10)
    miss = Work(requests=1, prompt_tokens=100, cached_tokens=0, decoded_tokens=10)
    assert floor_ratio(hit, miss, costs) == pytest.approx(0.1 / 0.2)
    assert (hit + miss) == Work(2, 200, 100, 20)
    with pytest.raises(ValueError, match="no floor"):
        floor_ratio(hit, Work(), costs)


def test_counting_takes_each_prompt_once_and_every_sample():
    engine = CountingEngine(FakeEngine())
    requests = [
        GenerationRequest((5, 6, 7), max_tokens=4, n=2, temperature=1.0),
        GenerationRequest((5, 6, 7, 8, 9), max_tokens=3),
    ]
    stream = engine.stream()
    for index, request in enumerate(requests):
        stream.submit(index, request)
    decoded = 0
    for _, completions in stream:
        decoded += sum(len(c.token_ids) for c in completions)
    assert engine.work == Work(
        requests=2, prompt_tokens=3 + 5, cached_tokens=0, decoded_tokens=decoded
    )
    assert 0 < decoded <= 2 * 4 + 3


def test_counts_of_a_strategy_run_on_the_fake_engine():
    """A budget sweep's requests, counted by the wrapper and by hand."""
    from bench.strategies import ChainSettings, Job, SingleChain

    fake = FakeEngine()
    counting = CountingEngine(fake)
    settings = ChainSettings(("Final answer:",), "\nFinal answer:", ("\n",), 8)
    prompts = [tuple(fake.tokenizer.encode(f"What is {i} + {i}?")) for i in range(5)]
    SingleChain(settings).run(counting, Job.of(prompts, [4, 16, 64]))
    requests = [r for group in counting.requests.values() for r in group]
    assert set(counting.requests) == {"think", "answer"}
    assert counting.work.requests == len(requests) > len(prompts)
    assert counting.work.prompt_tokens == sum(len(r.prompt_ids) for r in requests)
    assert counting.work.cached_tokens == 0  # the fake engine has no cache to report


def test_raw_outputs_are_counted_like_completions():
    outputs = [
        SimpleNamespace(
            prompt_token_ids=[1] * 10,
            num_cached_tokens=4,
            outputs=[SimpleNamespace(token_ids=[2] * 3)],
        ),
        SimpleNamespace(
            prompt_token_ids=[1] * 6,
            num_cached_tokens=None,
            outputs=[SimpleNamespace(token_ids=[2] * 5), SimpleNamespace(token_ids=[2])],
        ),
    ]
    assert raw_work(outputs) == Work(
        requests=2, prompt_tokens=16, cached_tokens=4, decoded_tokens=9
    )


class ClockEngine:
    """raw_generate advances a fake clock by known per-token costs."""

    PREFILL, DECODE = 0.002, 0.03

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def sampling_params(self, request):
        return SimpleNamespace(max_tokens=request.max_tokens, ignore_eos=False)

    def reset_prefix_cache(self):
        pass

    def raw_generate(self, prompts, params):
        assert params.ignore_eos
        outputs = [
            SimpleNamespace(
                prompt_token_ids=list(p),
                num_cached_tokens=0,
                outputs=[SimpleNamespace(token_ids=[0] * params.max_tokens)],
            )
            for p in prompts
        ]
        work = raw_work(outputs)
        self.clock[0] += work.prefilled * self.PREFILL + work.decoded_tokens * self.DECODE
        return outputs


def test_the_probes_recover_the_per_token_costs(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(floor_mod.time, "perf_counter", lambda: clock[0])
    prompts = [tuple(range(n)) for n in (40, 55, 70)]
    costs, details = token_costs(ClockEngine(clock), prompts)
    assert costs.decode_s == pytest.approx(ClockEngine.DECODE)
    assert costs.prefill_s == pytest.approx(ClockEngine.PREFILL)
    assert details["probe_prompt_tokens"] == 165 and details["probe_prompts"] == 3


def test_rounds_give_the_median_and_the_range():
    rounds = [
        {"largest_budget_ratio": r, "largest_budget_floor": 1.2, "largest_budget_vs_floor": r / 1.2}
        for r in (1.31, 1.20, 1.26)
    ]
    out = summarize_rounds(rounds, ["largest_budget_ratio"])
    assert out["largest_budget_ratio"] == 1.26
    assert out["largest_budget_ratio_range"] == [1.20, 1.31]
    assert out["largest_budget_floor"] == 1.2 and out["largest_budget_floor_range"] == [1.2, 1.2]
    assert out["largest_budget_vs_floor"] == round(1.26 / 1.2, 4)
    single = summarize_rounds(rounds[:1], ["largest_budget_ratio"])
    assert single["largest_budget_ratio"] == 1.31 and "largest_budget_ratio_range" not in single


@pytest.mark.parametrize("repeat", ["0", "-2"])
def test_repeat_must_be_positive(repeat, tmp_path):
    done = bench(
        "perf", "--only", "analysis", "--repeat", repeat, "--out", str(tmp_path / "p.json")
    )
    assert done.returncode != 0 and "--repeat" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
