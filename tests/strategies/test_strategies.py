"""Cut positions of the single-chain strategy, exact to the token, on the fake engine.

The fake tokenizer is one token per byte, so expected counts are string lengths.
"""

from __future__ import annotations

import pytest

from bench.engines.fake import FakeEngine, Script
from bench.strategies import ChainSettings, Job, SingleChain, thinking_length

SETTINGS = ChainSettings(
    thinking_end=("Final answer:",),
    forced_answer="\nFinal answer:",
    answer_stop=("\n",),
    answer_max_tokens=16,
)


def _engine(thinking: str, answer: str = "Final answer: 7\n", early: str = " 3\n") -> FakeEngine:
    return FakeEngine(script=lambda question: Script(thinking, answer, early))


def _run(engine: FakeEngine, budgets, question="q"):
    tok = engine.tokenizer
    prompt = tuple(tok.encode(tok.render_chat([{"role": "user", "content": question}])))
    results, stats = SingleChain(SETTINGS).run(engine, Job.of([prompt], budgets))
    return {r.attempt.budget: r.attempt for r in results}, stats


def test_natural_stop_before_budget_keeps_the_models_ending():
    thinking = "x" * 20  # 20 tokens
    attempts, _ = _run(_engine(thinking), [32, 64])
    for budget in (32, 64):
        a = attempts[budget]
        assert a.finish == "natural" and not a.hit_budget
        assert a.thinking_tokens == 20 and a.thinking_text == thinking
        assert a.answer_text == "Final answer: 7\n"
        assert a.answer_tokens == len("Final answer:") + len(" 7\n")


def test_cut_at_exactly_the_budget_with_forced_cue():
    thinking = "y" * 100
    attempts, _ = _run(_engine(thinking), [16, 50])
    for budget in (16, 50):
        a = attempts[budget]
        assert a.finish == "cut" and a.hit_budget
        assert a.thinking_tokens == budget and a.thinking_text == "y" * budget
        assert a.answer_text == "\nFinal answer: 3\n"  # forced cue, then the early answer
        assert a.answer_tokens == len("\nFinal answer:") + len(" 3\n")


def test_mixed_budgets_around_the_natural_end():
    attempts, stats = _run(_engine("z" * 40), [16, 32, 40, 64])
    assert [attempts[b].finish for b in (16, 32, 40, 64)] == ["cut", "cut", "natural", "natural"]
    assert [attempts[b].thinking_tokens for b in (16, 32, 40, 64)] == [16, 32, 40, 40]
    # budgets at or past the natural end share one answer decode: 2 cuts + 1 natural
    assert stats.answer_requests == 3


def test_delimiter_straddling_the_largest_budget_completes():
    # the delimiter starts 2 tokens before the largest budget: still a natural ending
    attempts, _ = _run(_engine("w" * 30), [32])
    assert attempts[32].finish == "natural" and attempts[32].thinking_tokens == 30


def test_no_delimiter_and_eos_forces_the_answer_without_a_cut():
    engine = _engine("done thinking", answer="", early=" 9\n")
    attempts, _ = _run(engine, [8, 64])
    assert attempts[8].finish == "cut" and attempts[8].thinking_tokens == 8
    ended = attempts[64]
    assert ended.finish == "no_delimiter" and not ended.hit_budget
    assert ended.thinking_tokens == len("done thinking")
    assert ended.answer_text.startswith("\nFinal answer:")


def test_one_generate_call_per_phase_for_the_whole_batch():
    engine = FakeEngine(script=lambda q: Script("t" * (10 * len(q)), "Final answer: 1\n", " 2\n"))
    tok = engine.tokenizer
    prompts = [
        tuple(tok.encode(tok.render_chat([{"role": "user", "content": "q" * n}])))
        for n in range(1, 6)
    ]
    results, _ = SingleChain(SETTINGS).run(engine, Job.of(prompts, [16, 32, 64], 1))
    assert len(engine.calls) == 2  # thinking batch, answer batch
    assert len(engine.calls[0]) == 5
    assert engine.calls[0][0].max_tokens == 64 + len("Final answer:")
    assert len(results) == 15


def test_samples_are_numbered():
    engine = _engine("s" * 10)
    tok = engine.tokenizer
    prompt = tuple(tok.encode(tok.render_chat([{"role": "user", "content": "q"}])))
    results, _ = SingleChain(SETTINGS).run(engine, Job.of([prompt], [16], 3))
    assert sorted(r.attempt.sample for r in results) == [0, 1, 2]


@pytest.mark.parametrize(
    "text, delimiter, expected",
    [
        ("abc Final answer:", "Final answer:", 4),
        ("no delimiter", "Final answer:", 12),
    ],
)
def test_thinking_length_on_token_boundaries(text, delimiter, expected):
    tok = FakeEngine().tokenizer
    assert thinking_length(tok, tok.encode(text), delimiter) == expected


def _prompt(engine, question="q"):
    tok = engine.tokenizer
    return tuple(tok.encode(tok.render_chat([{"role": "user", "content": question}])))


def test_wait_extends_thinking_before_the_largest_budget():
    # The fake model, told "Wait", writes " let me check that again. " and answers again.
    from dataclasses import replace

    engine = _engine("x" * 20)
    settings = replace(SETTINGS, wait="\nWait", max_extensions=2)
    results, stats = SingleChain(settings).run(engine, Job.of([_prompt(engine)], [16, 64, 200]))
    attempts = {r.attempt.budget: r.attempt for r in results}
    check = "\nWait let me check that again. "
    extended = "x" * 20 + check + check  # two extensions, then its own end
    assert stats.extension_requests == 2
    assert attempts[16].finish == "cut" and attempts[16].extensions == 0
    assert attempts[64].finish == "cut" and attempts[64].extensions == 2
    assert attempts[64].thinking_text == extended[:64]
    assert attempts[200].finish == "natural" and attempts[200].extensions == 2
    assert attempts[200].thinking_text == extended
    # single on the same problem thinks 20 tokens at every budget past 20
    plain, _ = SingleChain(SETTINGS).run(engine, Job.of([_prompt(engine)], [200]))
    assert plain[0].attempt.thinking_tokens == 20 < attempts[200].thinking_tokens


def test_wait_stops_extending_at_the_largest_budget():
    from dataclasses import replace

    engine = _engine("x" * 20)
    settings = replace(SETTINGS, wait="\nWait", max_extensions=5)
    results, stats = SingleChain(settings).run(engine, Job.of([_prompt(engine)], [40]))
    (attempt,) = [r.attempt for r in results]
    assert stats.extension_requests == 1  # 20 + 31 > 40: no second extension
    assert attempt.finish == "cut" and attempt.thinking_tokens == 40 and attempt.extensions == 1


def test_samples_with_logprobs_carry_a_certainty_score():
    from dataclasses import replace

    engine = FakeEngine()
    settings = replace(SETTINGS, temperature=0.7, logprobs=5)
    results, _ = SingleChain(settings).run(engine, Job.of([_prompt(engine, "what?")], [16, 64], 4))
    assert len(results) == 8
    scores = {r.attempt.sample: r.attempt.certainty for r in results}
    assert all(s is not None and s > 0 for s in scores.values())
    assert len(set(scores.values())) > 1  # samples differ
    answers = {r.attempt.answer_text for r in results if r.attempt.budget == 64}
    assert len(answers) > 1  # sampling varied the answers
