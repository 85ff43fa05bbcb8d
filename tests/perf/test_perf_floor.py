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
    step_floor_ratio,
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
    # a clock that charges per token has no fixed step cost: all of it is per request
    assert costs.step_s == pytest.approx(0.0, abs=1e-12)
    assert costs.request_s == pytest.approx(ClockEngine.DECODE)


class StepClockEngine(ClockEngine):
    """A step costs STEP whatever it carries, plus REQUEST per request alive
    (a CPU that reads the weights once a step); prefill per token."""

    STEP, REQUEST = 0.02, 0.001

    def raw_generate(self, prompts, params):
        outputs = super().raw_generate(prompts, params)  # charges per token: undo it
        work = raw_work(outputs)
        self.clock[0] -= work.prefilled * self.PREFILL + work.decoded_tokens * self.DECODE
        steps = params.max_tokens  # every request decodes max_tokens, all in step
        self.clock[0] += steps * (self.STEP + len(prompts) * self.REQUEST)
        self.clock[0] += work.prefilled * self.PREFILL
        return outputs


def test_the_probes_split_a_step_into_its_fixed_part_and_its_part_per_request(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(floor_mod.time, "perf_counter", lambda: clock[0])
    prompts = [tuple(range(n)) for n in (30, 31, 32, 33, 34, 35, 36, 37)]
    costs, details = token_costs(StepClockEngine(clock), prompts)
    assert costs.step_s == pytest.approx(StepClockEngine.STEP)
    assert costs.request_s == pytest.approx(StepClockEngine.REQUEST)
    assert costs.prefill_s == pytest.approx(StepClockEngine.PREFILL)
    # per token at a full batch: a step shared by 8 requests
    assert costs.decode_s == pytest.approx((StepClockEngine.STEP + 8 * 0.001) / 8)
    assert details["decode_step_seconds"] == {"1": 0.021, "8": 0.028}


def test_the_step_floor_prices_the_steps_each_side_ran():
    costs = TokenCosts(prefill_s=0.001, decode_s=0.01, step_s=0.02, request_s=0.002)
    # A: 300 steps, the batch thinning from 30 to 1 (4,000 request-steps);
    # B: 600 steps of full batches (18,000 request-steps), more prefill.
    a = Work(requests=60, prompt_tokens=9000, cached_tokens=6000, decoded_tokens=4000,
             steps=300, step_requests=4000)  # fmt: skip
    b = Work(requests=150, prompt_tokens=9000, cached_tokens=0, decoded_tokens=18000,
             steps=600, step_requests=18000)  # fmt: skip
    # by hand: (300*0.02 + 4000*0.002 + 3000*0.001) / (600*0.02 + 18000*0.002 + 9000*0.001)
    assert costs.step_seconds(a) == pytest.approx(6 + 8 + 3)
    assert step_floor_ratio(a, b, costs) == pytest.approx(17 / 57)
    # the token floor prices A's thin batches as cheaply as full ones
    assert floor_ratio(a, b, costs) == pytest.approx((3 + 40) / (9 + 180))
    # no step counts on a side (raw LLM.generate, the fake engine): no step floor
    assert step_floor_ratio(a, Work(1, 10, 0, 10), costs) is None
    assert TokenCosts(0.001, 0.01).step_seconds(a) is None
    assert (a + b).steps == 900 and (a + b).step_requests == 22000


class SteppingEngine(FakeEngine):
    """The fake engine with vLLM's step counters: one step per completed request,
    with every request still out alive in it."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.step_requests = 0

    def stream(self, *, desc: str = "generate"):
        inner = super().stream(desc=desc)
        owner = self

        class _Stepping:
            def submit(self, tag, request):
                inner.submit(tag, request)

            def __iter__(self):
                for item in inner:
                    owner.steps += 1
                    owner.step_requests += 3
                    yield item

        return _Stepping()


def test_counting_takes_the_steps_its_streams_ran():
    engine = CountingEngine(SteppingEngine())
    before = engine.work.steps
    stream = engine.stream()
    for index in range(4):
        stream.submit(index, GenerationRequest((1, 2, index), max_tokens=3))
    assert len(list(stream)) == 4
    assert engine.work.steps - before == 4 and engine.work.step_requests == 12
    # a plain engine counts none
    plain = CountingEngine(FakeEngine())
    stream = plain.stream()
    stream.submit(0, GenerationRequest((1, 2), max_tokens=3))
    list(stream)
    assert plain.work.steps == 0 and plain.work.step_requests == 0


def test_rounds_carry_step_floors_only_where_every_round_has_one():
    rounds = [
        {"sweep_reuse_ratio": r, "sweep_reuse_floor": 0.34, "sweep_reuse_vs_floor": r / 0.34,
         "sweep_reuse_step_floor": 0.42, "sweep_reuse_vs_step_floor": r / 0.42}
        for r in (0.43, 0.44, 0.45)
    ]  # fmt: skip
    out = summarize_rounds(rounds, ["sweep_reuse_ratio"])
    assert out["sweep_reuse_vs_step_floor"] == round(0.44 / 0.42, 4)
    assert out["sweep_reuse_step_floor_range"] == [0.42, 0.42]
    del rounds[1]["sweep_reuse_step_floor"], rounds[1]["sweep_reuse_vs_step_floor"]
    out = summarize_rounds(rounds, ["sweep_reuse_ratio"])
    assert "sweep_reuse_step_floor" not in out and out["sweep_reuse_ratio"] == 0.44


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


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse2 avx avx2 fma", "avx2"),
        ("avx2 avx512f avx512bw", "avx512f"),
        ("avx2 avx512f avx512_bf16", "avx512_bf16"),
        ("avx512_bf16 amx_tile amx_bf16 avx2", "amx_bf16"),
        ("fpu sse2 avx", "none"),
        ("avx512_bf16x avx2", "avx2"),  # a near name is not the flag
    ],
)
def test_the_machine_kind_is_its_widest_vector_unit(flags, expected):
    """bench perf's numbers name the machine kind they were measured on."""
    from bench.run.manifest import cpu_vector

    assert cpu_vector(flags.split()) == expected
