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

from bench.chain_steps import step_labels

vllm = pytest.importorskip("vllm", reason="vLLM (CPU build) is installed by make setup")
pytestmark = pytest.mark.engine

N, WIDTH = 4, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from bench.configure import compose
    from bench.runner import Sweep

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
    from bench.tasks import load_problems, load_spec

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
    from bench.config import load_verifier
    from bench.engines.reward_inputs import reward_text
    from bench.models import PROJECT_ROOT
    from bench.reward_models import RewardModel, step_scores

    _, records = run
    model, tokenizer = RewardModel.load(PROJECT_ROOT / "models" / "prm")
    verifier = load_verifier("reference-prm")
    questions = _questions()
    sample = records.drop_duplicates("thinking_text").head(24)
    texts = [
        reward_text(verifier, tokenizer, questions[r.problem_id], r.thinking_text, None, ",")
        for r in sample.itertuples()
    ]
    expected = [scores[-1] for scores in step_scores(model, tokenizer, texts)]
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


def _survival(model, tokenizer, verifier, question: str, rate: float, width: int) -> float:
    """The chance that a path of DVTS stays right through every step of
    `question`: at each step a right parent has `width` children, each a slip
    (the running value off by 1..3, as the slipper's training chains slip) at
    `rate`; the PRM's last-step score picks one. Right children are the same
    text (one score); a slipped child's offset is uniform over those that keep
    the chain's values in 0..99. The scores are the reference PRM's forward
    pass on the partial chains, so this model reads the PRM's real per-step
    accuracy among siblings."""
    from math import comb

    from bench.chain_steps import SLIP_OFFSETS, parse_question
    from bench.engines.reward_inputs import reward_text
    from bench.reward_models import step_scores

    chain = parse_question(question)
    values = chain.values
    alive, written = 1.0, f"{chain.start},"
    for index, step in enumerate(chain.steps):
        rest = values[index:]
        fits = [o for o in SLIP_OFFSETS if all(0 <= v + o <= 99 for v in rest)]
        texts = [f"{written}{step:+d}={values[index] + o}," for o in [0, *fits]]
        partial = [reward_text(verifier, tokenizer, question, t, None, ",") for t in texts]
        scores = [row[-1] for row in step_scores(model, tokenizer, partial)]
        good, bad = scores[0], scores[1:]
        # P(the right child is kept | k of the width slipped), k < width.
        wins = 0.0
        for slipped in range(width):
            beaten = sum(b < good for b in bad) / len(bad) if bad else 1.0
            chance = comb(width, slipped) * rate**slipped * (1 - rate) ** (width - slipped)
            wins += chance * beaten**slipped
        alive *= wins
        written += f"{step:+d}={values[index]},"
    return alive


@pytest.fixture(scope="module")
def searched():
    """DVTS at two widths on the same engines: every kept path and its problem."""
    from bench.config import load_verifier
    from bench.configure import compose
    from bench.engines import make_engine
    from bench.engines.reward import make_reward_engine
    from bench.prompts import build_prompts, chain_settings, load_suite
    from bench.strategies import get

    out = {}
    cfg = compose(
        ["model=slipper", "suite=chain", "engine=vllm_cpu", "engine.kv_cache_space_gib=1",
         "strategy=dvts", "strategy.n=8", "suite.limit=60", "engine.show_progress=false"]
    )  # fmt: skip
    problems, specs = load_suite(cfg.suite, [])
    engine = make_engine(cfg.engine, cfg.model)
    verifier = make_reward_engine(load_verifier("reference-prm"), cfg.engine)
    try:
        prompted = build_prompts(engine, problems, specs, cfg.model)
        for width in WIDTHS:
            cfg.strategy.beam_width = width
            strategy = get("dvts").build(chain_settings(cfg.model, cfg.strategy), cfg.model)
            strategy.attach(verifier, [p.problem.question for p in prompted])
            done, _ = strategy.run(engine, [p.prompt_ids for p in prompted], [128], 8, None)
            out[width] = [(prompted[r.prompt_index].problem, r.attempt) for r in done]
    finally:
        engine.close()
        verifier.close()
    return out


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
    from bench.config import load_verifier
    from bench.models import PROJECT_ROOT
    from bench.reward_models import RewardModel

    recipe = json.loads((PROJECT_ROOT / "models" / "slipper" / "recipe.json").read_text())
    rate = recipe["sampled"]["per_step_slip_rate"]
    model, tokenizer = RewardModel.load(PROJECT_ROOT / "models" / "prm")
    verifier = load_verifier("reference-prm")
    measured, predicted = {}, {}
    for problem, attempt in searched[width]:
        labels = step_labels(problem.question, attempt.thinking_text, None)
        right = labels is not None and labels.complete and all(labels.labels)
        measured.setdefault(problem.problem_id, []).append(float(right))
        if problem.problem_id not in predicted:
            predicted[problem.problem_id] = _survival(
                model, tokenizer, verifier, problem.question, rate, width
            )
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
    assert low <= 0 <= high


def _chains(problem_ids):
    from bench.chain_steps import parse_question

    questions = _questions()
    return [parse_question(questions[i]) for i in problem_ids]
