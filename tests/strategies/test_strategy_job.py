"""What a strategy is asked to do (bench/strategies/job.py): the job's checks,
the one seed formula every strategy draws from, the answer settings, and
the gather of each problem's attempts."""

from __future__ import annotations

import pytest

from bench.engines.fake import FakeEngine
from bench.strategies import ChainSettings, Gather, Job, ProblemRequest, get
from bench.strategies.job import ANSWER_STEP, SEED_RANGE


class _Seeded:
    supports_request_seed = True


class _Unseeded:
    supports_request_seed = False


def test_the_seed_formula_is_each_strategys_old_one():
    problem = ProblemRequest(0, (1, 2), seed=2**32 - 5)
    engine = _Seeded()
    base = 2**32 - 5
    # single/wait/sc/bon: thinking, a "Wait" extension, a sampled answer
    assert problem.request_seed(engine) == base % 2**31
    assert problem.request_seed(engine, step=2, sample=3) == (base + 7919 * 2 + 3) % 2**31
    assert (
        problem.request_seed(engine, step=ANSWER_STEP, sample=1)
        == (base + 7919 * 104729 + 1) % 2**31
    )
    # beam/dvts: iteration, parent path and budget
    assert (
        problem.request_seed(engine, step=4, path=2, budget=128)
        == (base + 7919 * 4 + 104723 * 2 + 128) % 2**31
    )
    # api: one request per sample
    assert problem.request_seed(engine, sample=5) == (base + 5) % 2**31


def test_seeds_stay_in_range_and_apart():
    engine = _Seeded()
    seen = set()
    for seed in (0, 1, 2**31 - 1, 2**31, 2**32 - 1):
        problem = ProblemRequest(0, (), seed=seed)
        for step in range(3):
            for sample in range(3):
                value = problem.request_seed(engine, step=step, sample=sample)
                assert 0 <= value < SEED_RANGE
                seen.add((seed, value))
    assert len(seen) == 5 * 9  # no two requests of one problem share a seed


def test_no_seed_without_a_problem_seed_or_an_engine_that_takes_one():
    assert ProblemRequest(0, (), seed=None).request_seed(_Seeded(), sample=3) is None
    assert ProblemRequest(0, (), seed=7).request_seed(_Unseeded()) is None
    # seed 0 is a seed, not a missing one
    assert ProblemRequest(0, (), seed=0).request_seed(_Seeded()) == 0


@pytest.mark.parametrize(
    ("tokens", "stop", "expected"),
    [
        (None, None, (32, ("\n",))),  # the model's
        (200, ("```",), (200, ("```",))),  # the task's
        (None, (), (32, ())),  # an empty stop list is the task's choice, not a missing one
        (0, None, (32, ("\n",))),  # no length: the model's
    ],
)
def test_answer_settings_are_the_tasks_else_the_models(tokens, stop, expected):
    problem = ProblemRequest(0, (), answer_tokens=tokens, answer_stop=stop)
    assert problem.answer_settings(32, ("\n",)) == expected


@pytest.mark.parametrize(
    ("budgets", "samples", "message"),
    [
        ((), 1, "at least one budget"),
        ((16, 16), 1, "each budget once"),
        ((16,), 0, "samples >= 1"),
    ],
)
def test_a_malformed_job_is_refused_in_one_line(budgets, samples, message):
    with pytest.raises(ValueError, match=message):
        Job((), budgets, samples)


def test_problems_must_sit_at_their_own_index():
    problems = (ProblemRequest(0, (1,)), ProblemRequest(2, (2,)))
    with pytest.raises(ValueError, match="problem 1 of the job says it is problem 2"):
        Job(problems, (8,))


def test_job_of_bare_prompts():
    job = Job.of([(1, 2), [3]], [8, 16], samples=2, seeds=[5, 6], questions=["a", "b"])
    assert [p.prompt for p in job.problems] == [(1, 2), (3,)]
    assert [p.seed for p in job.problems] == [5, 6]
    assert [p.question for p in job.problems] == ["a", "b"]
    assert job.largest == 16 and len(job) == 2 and job.samples == 2


def test_gather_hands_back_a_problem_once_nothing_is_left():
    gather = Gather()
    gather.expect(0, ["a", "b"])
    gather.expect(1, ["a"])
    assert gather.arrive(0, "a", [1]) is None
    assert gather.arrive(1, "a", [10]) == [10]  # problems are apart
    assert gather.waits_for(0, "b") and not gather.waits_for(1, "a")
    assert gather.arrive(0, "b", [2, 3]) == [1, 2, 3]
    assert len(gather) == 0


def test_gather_refuses_what_was_not_expected_or_came_twice():
    gather = Gather()
    gather.expect(0, ["a", "b"])
    with pytest.raises(KeyError, match="does not wait for 'c'"):
        gather.arrive(0, "c")
    gather.arrive(0, "a")
    with pytest.raises(KeyError):
        gather.arrive(0, "a")
    with pytest.raises(KeyError):
        gather.arrive(3, "a")


def test_gather_with_nothing_but_keys_gives_an_empty_list_not_none():
    gather = Gather()
    gather.expect(4, [("cut", 4, 0, 16)])
    assert gather.arrive(4, ("cut", 4, 0, 16)) == []


SETTINGS = ChainSettings(("</think>",), "</think>\nFinal answer:", ("\n",), 8, temperature=0.7)


@pytest.mark.parametrize("name", ["single", "native"])
def test_every_strategy_sends_the_tasks_answer_settings_and_the_job_seeds(name):
    """Two problems, one with its task's answer length and stop: the requests
    carry them, and each problem's seeds come from its own seed."""
    engine = FakeEngine(forced_answer=SETTINGS.forced_answer)
    encode = engine.tokenizer.encode
    problems = (
        ProblemRequest(0, tuple(encode("What is 2 + 2?")), seed=11),
        ProblemRequest(
            1, tuple(encode("What is 3 + 3?")), seed=22, answer_tokens=5, answer_stop=("END",)
        ),
    )
    job = Job(problems, (4, 16), samples=2)
    strategy = get(name).build(SETTINGS, None)
    results, _ = strategy.run(engine, job)
    assert sorted({r.prompt_index for r in results}) == [0, 1]
    assert len(results) == 2 * 2 * 2  # problems x budgets x samples
    requests = [r for call in engine.calls for r in call]
    by_prompt = {
        i: [r for r in requests if r.prompt_ids[: len(p.prompt)] == p.prompt]
        for i, p in enumerate(problems)
    }
    seeds = {i: {r.seed for r in rs} - {None} for i, rs in by_prompt.items()}
    assert seeds[0] and seeds[1] and not seeds[0] & seeds[1]
    if name == "single":  # answers are separate requests: theirs carry the task's stop
        answers = [r for r in by_prompt[1] if r.stop == ("END",)]
        assert answers and all(r.max_tokens == 5 for r in answers)
        assert not [r for r in by_prompt[0] if r.stop == ("END",)]
    else:  # one request per budget: budget + forced cue + the task's answer length + slack
        forced = len(encode(SETTINGS.forced_answer))
        assert sorted(r.max_tokens for r in by_prompt[1]) == [b + forced + 5 + 8 for b in (4, 16)]
