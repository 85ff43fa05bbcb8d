"""Grading beside generation (bench/grading/runtime/stage.py): the same verdicts as
grading everything at once, failures named, kills lose nothing, and the
progress display shows both stages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import CONFIG_DIR, bench, needs_sandbox
from omegaconf import OmegaConf

from bench.engines.fake import code_script
from bench.grading.runtime.pool import GradingPool
from bench.grading.runtime.stage import GradingStage, GradingStageError
from bench.run.store import RunStore
from bench.sweep.runner import Sweep


def mini_humaneval(root: Path, problems: int = 8) -> Path:
    """A HumanEval-format set whose tests pass for every other problem's fake
    program (the fake engine's code script returns a number from the prompt)."""
    rows = []
    for i in range(problems):
        prompt = f'def f{i}(x):\n    """Problem {i}: return a number."""\n'
        # The question as the default model's code template renders it; the fake
        # writes `return <a number hashed from it>` (sampled takes shift it by 1).
        template = OmegaConf.load(CONFIG_DIR / "model" / "smollm2-135m.yaml").prompts.code
        question = template.replace("{question}", prompt) + "\n"  # as the fake chat renders it
        value = int(code_script(question).early_answer.split("return ")[1].split("\n")[0])
        accepted = (value - 1, value, value + 1) if i % 2 == 0 else (value + 100,)
        rows.append(
            {
                "id": f"Mini/{i}",
                "prompt": prompt,
                "entry_point": f"f{i}",
                "test": f"def check(candidate):\n    assert candidate(0) in {accepted}\n",
            }
        )
    folder = root / "humaneval"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


CODE = ("engine=fake", "engine.script=code", "suite=humaneval", "budget.tokens=[16,64]")


@needs_sandbox
def test_verdicts_equal_grading_everything_at_once(make_cfg, tmp_path):
    data = mini_humaneval(tmp_path / "data")
    cfg = make_cfg(
        *CODE, f"suite.data_dir={data}", "strategy=sc", "strategy.n=2", "store_interval_s=0"
    )
    sweep = Sweep(cfg)
    run_dir = sweep.run()
    store = RunStore(run_dir)
    # Many parts, each graded by the stage as it arrived.
    assert len(list((run_dir / "generations").glob("part-*.parquet"))) >= 4
    assert sweep.grading["graded_in_stage"] == 8 * 2 * 2
    records = pd.read_parquet(run_dir / "records.parquet").set_index("key").sort_index()
    assert records["correct"].notna().all()
    pool = GradingPool(quiet=True)
    try:
        graders = {"humaneval": "code"}
        at_once = pd.DataFrame(pool.grade(store.generations().to_dict("records"), graders))
    finally:
        pool.close()
    at_once = at_once.set_index("key").sort_index()
    for column in ("answer", "correct", "vote_class", "correct_in_thinking"):
        mine, theirs = records[column].astype(object), at_once[column].astype(object)
        pd.testing.assert_series_equal(
            mine.where(mine.notna(), None), theirs.where(theirs.notna(), None), check_names=False
        )
    # The scripted programs are right for the even problems only: the sandbox really ran.
    right = records.groupby("problem_id")["correct"].any()
    assert right.sum() == 4 and not right.all()


def test_a_failing_stage_is_named_and_the_sweep_keeps_its_attempts(tmp_path):
    run_dir = tmp_path / "run"
    RunStore(run_dir)
    stage = GradingStage(run_dir, {"arith": "numeric"})
    stage.submit(tmp_path / "no-such-part.parquet", 3)
    with pytest.raises(GradingStageError, match="grading failed: .*no-such-part.*re-run"):
        stage.finish(show=False)


def test_a_stage_never_started_costs_nothing(tmp_path):
    stage = GradingStage(tmp_path, {"arith": "numeric"})
    stage.submit(None, 0)
    stage.finish(show=False)
    stage.abort()
    assert stage.proc is None and stage.graded == stage.submitted == 0


def test_progress_shows_generated_and_graded(tmp_path):
    result = bench(
        "sweep",
        "engine=fake",
        "engine.delay_s=0.01",
        "suite.limit=20",
        "store_interval_s=0",
        "summary=false",
        "report=false",
        f"results_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    assert "graded " in result.stderr and "problems:" in result.stderr


@pytest.mark.slow
@needs_sandbox
def test_kill_during_code_grading_then_resume_matches(tmp_path):
    """SIGKILL while the stage grades programs; the re-run's records equal an
    uninterrupted run's (ungraded parts are graded on resume)."""
    from test_reliability import _kill_then_resume, _records

    data = mini_humaneval(tmp_path / "data", problems=16)
    results = tmp_path / "results"
    common = [
        "sweep",
        *CODE,
        f"suite.data_dir={data}",
        "engine.delay_s=0.01",
        "store_interval_s=0.05",
        "summary=false",
        "report=false",
        f"results_dir={results}",
    ]
    assert bench(*common, "run_name=base").returncode == 0
    expected = _records(results / "base")
    landed = [
        _kill_then_resume([*common, f"run_name=k{t}"], wait)
        for t, wait in enumerate((0.2, 0.5, 0.9))
    ]
    for t in range(3):
        got = _records(results / f"k{t}")
        assert got["key"].is_unique
        pd.testing.assert_frame_equal(got, expected)
    assert sum(landed) >= 2
