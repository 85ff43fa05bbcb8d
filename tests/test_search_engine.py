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
