"""Beam search on the real engines: the slipping policy on vLLM's CPU build,
stepped one "," at a time, and the reference PRM on vLLM's pooling runner
beside it, both alive for the whole search.

Checked against what is known without vLLM: every recorded path is a chain
the policy could write (its steps, its answer), the score the search kept
for a path is the reference PRM's transformers forward pass on the path's
steps, and every token is counted.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import prm_forward_pass

from bench.tasks.chain_steps import step_labels

vllm = pytest.importorskip("vllm", reason="vLLM (CPU build) is installed by make setup")
pytestmark = pytest.mark.engine

N, WIDTH = 4, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from bench.sweep.compose import compose
    from bench.sweep.runner import Sweep

    results = tmp_path_factory.mktemp("beam")
    cfg = compose(
        [
            "model=slipper", "suite=chain", "engine=vllm_cpu", "engine.kv_cache_space_gib=1",
            "strategy=beam", f"strategy.n={N}", f"strategy.beam_width={WIDTH}",
            "budget.tokens=[24,128]", "suite.limit=8", f"results_dir={results}",
            "engine.show_progress=false", "report=false", "plots=false", "run_name=beam",
        ]
    )  # fmt: skip
    run_dir = Sweep(cfg).run()
    return run_dir, pd.read_parquet(run_dir / "records.parquet")


def _questions():
    from bench.tasks.loader import load_problems, load_spec

    return {p.problem_id: p.question for p in load_problems(load_spec("chain"))}


def test_beam_records_n_paths_per_problem_and_budget(run):
    _, records = run
    assert set(records.groupby(["problem_id", "budget"]).size()) == {N}
    assert set(records["finish"]) <= {"natural", "cut", "capped", "no_delimiter"}
    cut = records[records["finish"] == "cut"]
    assert (cut["thinking_tokens"] == cut["budget"]).all()
    assert (records["thinking_tokens"] <= records["budget"]).all()
    questions = _questions()
    for row in records.itertuples():  # every path reads as a chain of its problem
        assert step_labels(questions[row.problem_id], row.thinking_text, None) is not None


def test_the_kept_score_is_the_prms_forward_pass_on_the_path(run):
    from bench.config.schema import load_verifier
    from bench.engines.models import PROJECT_ROOT
    from bench.engines.reward_inputs import reward_text
    from bench.training.reward_models import RewardModel

    _, records = run
    model, tokenizer = RewardModel.load(PROJECT_ROOT / "models" / "prm")
    verifier = load_verifier("reference-prm")
    questions = _questions()
    sample = records.drop_duplicates("thinking_text").head(24)
    texts = [
        reward_text(verifier, tokenizer, questions[r.problem_id], r.thinking_text, None, ",")
        for r in sample.itertuples()
    ]
    expected = [scores[-1] for scores in prm_forward_pass(model, tokenizer, texts)]
    for got, want in zip(sample["search_score"], expected, strict=True):
        assert got == pytest.approx(want, abs=1e-3)


def test_every_token_the_search_made_is_in_the_records(run):
    run_dir, records = run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    work = manifest["engine_work"]
    assert records["search_tokens"].sum() == work["thinking_generated"] + work["answer_generated"]
    assert (records["search_verifier_tokens"] > 0).all()
    assert (records["search_verifier_seconds"] > 0).all()
    # The verification phase scored the kept paths with their answers too.
    assert records["verifier_score"].notna().all()
    # More than the kept paths' own tokens: the pruned branches are counted.
    own = records["thinking_tokens"] + records["answer_tokens"]
    kept = own.groupby([records["problem_id"], records["budget"]]).max().sum()
    assert records["search_tokens"].sum() > kept


# -- a model of the search, checked against the harness ----------------------


# question -> per step, the PRM's last-step score of the right child and of
# each slipped one: the same for every width, so each width's test reads them.
_SIBLING_SCORES: dict[str, list[tuple[float, list[float]]]] = {}


def _sibling_scores(model, tokenizer, verifier, question: str) -> list[tuple[float, list[float]]]:
    """At each step of `question`'s chain, written right so far: the score of
    the right next step and of every slip of it (the running value off by
    1..3, as the slipper's training chains slip, keeping the chain's values
    in 0..99). The reference PRM's forward pass on the partial chains."""
    from bench.engines.reward_inputs import reward_text
    from bench.tasks.chain_steps import parse_question, slip_offsets

    if question in _SIBLING_SCORES:
        return _SIBLING_SCORES[question]
    chain = parse_question(question)
    values = chain.values
    siblings, written = [], f"{chain.start},"
    for index, step in enumerate(chain.steps):
        fits = slip_offsets(values[index:])
        texts = [f"{written}{step:+d}={values[index] + o}," for o in [0, *fits]]
        partial = [reward_text(verifier, tokenizer, question, t, None, ",") for t in texts]
        scores = [row[-1] for row in prm_forward_pass(model, tokenizer, partial)]
        siblings.append((scores[0], scores[1:]))
        written += f"{step:+d}={values[index]},"
    _SIBLING_SCORES[question] = siblings
    return siblings


def _survival(siblings: list[tuple[float, list[float]]], rate: float, width: int) -> float:
    """The chance that a path of DVTS stays right through every step: at each
    step a right parent has `width` children, each a slip at `rate`; the
    PRM's last-step score picks one. Right children are the same text (one
    score); a slipped child's offset is uniform over those that fit.
    `siblings` (_sibling_scores) are the PRM's real scores, so this model
    reads the PRM's real per-step accuracy among siblings."""
    from math import comb

    alive = 1.0
    for good, bad in siblings:
        # P(the right child is kept | k of the width slipped), k < width.
        wins = 0.0
        for slipped in range(width):
            beaten = sum(b < good for b in bad) / len(bad) if bad else 1.0
            chance = comb(width, slipped) * rate**slipped * (1 - rate) ** (width - slipped)
            wins += chance * beaten**slipped
        alive *= wins
    return alive


@pytest.fixture(scope="module")
def searched():
    """DVTS and beam search at two widths on the same engines, and SAMPLES
    plain samples per problem for best-of-N: every kept path and its problem, the
    samples with their PRM scores and tokens, and the PRM's scores of the
    partial chains the beam model (_beam_share) needs."""
    from bench.config.schema import load_verifier
    from bench.engines import make_engine
    from bench.engines.reward import make_reward_engine
    from bench.strategies import get
    from bench.sweep.compose import compose
    from bench.sweep.prompts import build_prompts, chain_settings, job_of, load_suite
    from bench.types import GenerationRequest

    out = {}
    cfgs = {
        mode: compose(
            [
                "model=slipper",
                "suite=chain",
                "engine=vllm_cpu",
                "engine.kv_cache_space_gib=1",
                f"strategy={mode}",
                "strategy.n=8",
                "suite.limit=60",
                "engine.show_progress=false",
            ]
        )  # fmt: skip
        for mode in ("dvts", "beam")
    }
    cfg = cfgs["dvts"]
    problems, specs = load_suite(cfg.suite, [])
    engine = make_engine(cfg.engine, cfg.model)
    verifier = make_reward_engine(load_verifier("reference-prm"), cfg.engine)
    try:
        prompted = build_prompts(engine, problems, specs, cfg.model)
        questions = [p.problem.question for p in prompted]
        for mode, mode_cfg in cfgs.items():
            for width in WIDTHS:
                mode_cfg.strategy.beam_width = width
                strategy = get(mode).build(
                    chain_settings(mode_cfg.model, mode_cfg.strategy), mode_cfg.model
                )
                strategy.attach(verifier)
                done, _ = strategy.run(engine, job_of(prompted, [128], 8))
                out[mode, width] = [(prompted[r.prompt_index].problem, r.attempt) for r in done]
        out["samples"] = _samples(engine, verifier, prompted, GenerationRequest)
        out["partial"] = _partial_scores(verifier, questions)
    finally:
        engine.close()
        verifier.close()
    return out


SAMPLES = 32  # plain samples per problem: best-of-k up to the beam's tokens


def _samples(engine, verifier, prompted, request_type):
    """Per problem, SAMPLES chains sampled at temperature 1 (the slipper's own
    sampling, thinking only) with the PRM's last-step score of each and the
    tokens each cost: generated, and read by the PRM."""
    requests = [
        request_type(
            prompt_ids=tuple(p.prompt_ids), max_tokens=128, temperature=1.0,
            stop=("</think>",), n=SAMPLES,
        )
        for p in prompted
    ]  # fmt: skip
    completions = engine.generate(requests, desc="samples")
    out = {}
    for p, samples in zip(prompted, completions, strict=True):
        texts = [c.text.split("</think>")[0] for c in samples]
        scored = verifier.score([verifier.inputs(p.problem.question, t, None, ",") for t in texts])
        out[p.problem.problem_id] = [
            (t, s.step_scores[-1] if s.step_scores else 0.0, len(c.token_ids), s.tokens)
            for t, c, s in zip(texts, samples, scored, strict=True)
        ]
    return out


def _partial_scores(verifier, questions):
    """Per question, the PRM's last-step score of every partial chain a beam
    can hold: right through step t, or slipped first at step j by offset o
    (the chain going on from there, as the slipper's training chains do) and
    written on to step t. One verifier batch."""
    from bench.tasks.chain_steps import parse_question, slip_offsets, written_steps

    keys, inputs = [], []
    for question in questions:
        chain = parse_question(question)
        slips = [(0, 0)] + [
            (j, o)
            for j in range(1, len(chain.steps) + 1)
            for o in slip_offsets(chain.values[j - 1 :])
        ]
        for j, o in slips:  # (0, 0): right throughout
            steps = written_steps(chain, j or None, o)
            for t in range(max(j, 1), len(chain.steps) + 1):
                keys.append((question, j, o, t))
                inputs.append(verifier.inputs(question, ",".join(steps[: t + 1]), None, ","))
    scored = verifier.score(inputs)
    return {key: s.step_scores[-1] for key, s in zip(keys, scored, strict=True)}


WIDTHS = (2, 4)


@pytest.mark.parametrize("width", WIDTHS)
def test_dvts_keeps_right_paths_as_the_model_of_it_predicts(searched, width):
    """Measured: the share of DVTS's kept paths whose every step is right.
    Predicted: per problem, the product over its steps of the chance the
    right child survives a comparison of `width` siblings (_survival), from
    the slipper's measured per-step slip rate (its recipe) and the PRM's
    scores. The prediction lies within the 99% bootstrap CI (problems
    resampled) of the measured share: the CPU engine's samples differ from
    run to run (two runs at width 4 on 36 problems: 0.444 and 0.625 against
    0.554 predicted), hence all 60 problems and the wider interval."""
    from bench.analysis.metrics import bootstrap_ci
    from bench.config.schema import load_verifier
    from bench.engines.models import PROJECT_ROOT
    from bench.training.reward_models import RewardModel

    recipe = json.loads((PROJECT_ROOT / "models" / "slipper" / "recipe.json").read_text())
    rate = recipe["sampled"]["per_step_slip_rate"]
    model, tokenizer = RewardModel.load(PROJECT_ROOT / "models" / "prm")
    verifier = load_verifier("reference-prm")
    measured, predicted = {}, {}
    for problem, attempt in searched["dvts", width]:
        right = _right(problem.question, attempt.thinking_text)
        measured.setdefault(problem.problem_id, []).append(float(right))
        if problem.problem_id not in predicted:
            siblings = _sibling_scores(model, tokenizer, verifier, problem.question)
            predicted[problem.problem_id] = _survival(siblings, rate, width)
    ids = sorted(measured)
    shares = [sum(measured[i]) / len(measured[i]) for i in ids]
    differences = [s - predicted[i] for s, i in zip(shares, ids, strict=True)]
    low, high = bootstrap_ci(differences, level=0.99)
    mean_measured, mean_predicted = sum(shares) / len(ids), sum(predicted.values()) / len(ids)
    print(
        f"dvts n=8 width {width}: right paths {mean_measured:.3f} measured, "
        f"{mean_predicted:.3f} predicted (difference 99% CI {low:+.3f}..{high:+.3f}); "
        f"no search (rate {rate}): {sum((1 - rate) ** len(p.steps) for p in _chains(ids)) / len(ids):.3f}"
    )
    # 0.01 of slack: when nearly every share is 1 the bootstrap interval
    # collapses onto the measured mean (measured 1.000 vs 0.996 predicted).
    assert low - 0.01 <= 0 <= high + 0.01


def _chains(problem_ids):
    from bench.tasks.chain_steps import parse_question

    questions = _questions()
    return [parse_question(questions[i]) for i in problem_ids]


def _right(question: str, thinking: str) -> bool:
    """Every step of the written chain holds and it reaches the last step."""
    labels = step_labels(question, thinking, None)
    return labels is not None and labels.complete and all(labels.labels)


def _beam_share(partial, question: str, rate: float, n: int, width: int, reps: int = 300) -> float:
    """The expected share of right paths among beam search's n final paths.
    A path is right, or wrong since its first slip (step j, offset o; it goes
    on from there). Every iteration each of the n/width kept paths has width
    children; a right parent's child slips at `rate` (the offset uniform over
    those that keep the chain in 0..99), a wrong parent's child stays wrong;
    the PRM's measured last-step scores of those very partial chains
    (`partial`) pick the n/width kept, ties in random order. At the last step
    every child finishes and all n are the final paths. Simulated `reps`
    times with a fixed seed."""
    import random

    from bench.tasks.chain_steps import parse_question, slip_offsets

    values = parse_question(question).values
    steps, keep = len(values), max(1, n // width)
    fits = {t: slip_offsets(values[t - 1 :]) for t in range(1, steps + 1)}
    rng = random.Random(0)
    total = 0.0
    for _ in range(reps):
        pool: list = [None] * keep  # None: right so far; (j, o): slipped
        for t in range(1, steps + 1):
            children = []
            for parent in pool:
                for _ in range(width):
                    slips = parent is None and fits[t] and rng.random() < rate
                    children.append((t, rng.choice(fits[t])) if slips else parent)
            if t == steps:
                total += sum(c is None for c in children) / len(children)
                break
            rng.shuffle(children)
            children.sort(key=lambda c: -partial[(question, *(c or (0, 0)), t)])
            pool = children[:keep]
    return total / reps


@pytest.mark.parametrize("width", WIDTHS)
def test_beam_keeps_right_paths_as_the_model_of_it_predicts(searched, width):
    """Measured: the share of beam search's final paths (n=8) whose every
    step is right. Predicted: _beam_share, from the slipper's measured
    per-step slip rate (its recipe) and the PRM's scores of the partial
    chains a beam can hold. The prediction lies within the 99% bootstrap CI
    (problems resampled) of the measured share."""
    from bench.analysis.metrics import bootstrap_ci
    from bench.engines.models import PROJECT_ROOT

    recipe = json.loads((PROJECT_ROOT / "models" / "slipper" / "recipe.json").read_text())
    rate = recipe["sampled"]["per_step_slip_rate"]
    measured, questions = {}, {}
    for problem, attempt in searched["beam", width]:
        measured.setdefault(problem.problem_id, []).append(
            float(_right(problem.question, attempt.thinking_text))
        )
        questions[problem.problem_id] = problem.question
    ids = sorted(measured)
    shares = [sum(measured[i]) / len(measured[i]) for i in ids]
    predicted = [_beam_share(searched["partial"], questions[i], rate, 8, width) for i in ids]
    differences = [s - p for s, p in zip(shares, predicted, strict=True)]
    low, high = bootstrap_ci(differences, level=0.99)
    print(
        f"beam n=8 width {width}: right paths {sum(shares) / len(ids):.3f} measured, "
        f"{sum(predicted) / len(ids):.3f} predicted (difference 99% CI {low:+.3f}..{high:+.3f})"
    )
    # 0.01 of slack: when nearly every share is 1 the bootstrap interval
    # collapses onto the measured mean (measured 1.000 vs 0.996 predicted).
    assert low - 0.01 <= 0 <= high + 0.01


def _best_of(samples, k: int) -> float:
    """bon@k of one problem, as the harness's tables compute it (every
    k-subset, or random ones when there are too many): is the chain with the
    best PRM score right."""
    from bench.analysis.voting import subset_accuracy

    right = [r for r, *_ in samples]
    scores = [score for _, score, *_ in samples]
    return subset_accuracy("bon", k, [0] * len(samples), right, scores)


def test_beam_against_best_of_n_at_equal_tokens_on_long_chains(searched):
    """On chains of 8 or more steps: beam search (n=8, each width) against
    PRM best-of-k of plain samples, k the largest whose total tokens per
    problem (generated + read by the PRM) do not exceed the beam's. Measured
    and pinned: beam search does not beat best-of-N at equal tokens here (25
    problems: beam 0.96 at width 2 and 0.92 at width 4, about 5,950 tokens
    each; best-of-32 1.00 at 4,910; best-of-8 0.98 at 1,227). Its PRM reads
    every partial chain again at every step (four fifths of its tokens), and
    the last step's slips are never compared with a sibling: the search
    stops when all n paths finish."""
    questions = {p.problem_id: p.question for p, _ in searched["beam", WIDTHS[0]]}
    long = sorted(i for i, q in questions.items() if q.count("+") + q.count("-") >= 8)
    samples = {
        i: [(_right(questions[i], t), score, made, read) for t, score, made, read in rows]
        for i, rows in searched["samples"].items()
        if i in long
    }
    per_sample = sum(m + r for rows in samples.values() for _, _, m, r in rows) / (
        SAMPLES * len(long)
    )
    ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= SAMPLES]
    bon = {k: sum(_best_of(samples[i], k) for i in long) / len(long) for k in ks}
    lines = [
        "best-of-k: "
        + ", ".join(f"{k}: {v:.3f}" for k, v in bon.items())
        + f" at {per_sample:.0f} tokens a sample (policy + PRM)"
    ]
    for width in WIDTHS:
        kept: dict[str, list] = {}
        for problem, attempt in searched["beam", width]:
            if problem.problem_id in long:
                kept.setdefault(problem.problem_id, []).append(attempt)
        tokens = sum(
            a.search_tokens + a.search_verifier_tokens for rows in kept.values() for a in rows
        ) / len(long)
        accuracy = sum(
            _right(questions[i], max(rows, key=lambda a: a.search_score).thinking_text)
            for i, rows in kept.items()
        ) / len(long)
        k = max([k for k in bon if k * per_sample <= tokens], default=1)
        lines.append(
            f"beam n=8 width {width}: {accuracy:.3f} at {tokens:.0f} tokens; "
            f"best-of-{k} at {k * per_sample:.0f} tokens: {bon[k]:.3f}"
        )
        # One problem of slack: the CPU engine's samples differ run to run.
        assert accuracy <= bon[k] + 0.04, lines
    print(f"{len(long)} problems of 8+ steps; " + "; ".join(lines))
