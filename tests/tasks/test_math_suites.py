"""Math suites: local layout and hub layout map onto the same problems; a
math sweep runs end to end on the fake engine and `bench grade` re-grades."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import bench

from bench.config.schema import ConfigError
from bench.sweep.prompts import load_suite
from bench.sweep.runner import Sweep
from bench.tasks import loader as tasks


def write_sets(root, count=4):
    """A tiny data_dir in the offline layout: <set>/test.jsonl."""
    rows = {
        "math500": [
            {
                "id": f"test/algebra/{i}.json",
                "problem": f"What is $\\frac{{{i}}}{{2}}$?",
                "answer": f"\\frac{{{i}}}{{2}}",
                "solution": f"It is $\\boxed{{\\frac{{{i}}}{{2}}}}$.",
                "level": 1 + i % 5,
                "subject": "Algebra" if i % 2 else "Geometry",
            }
            for i in range(count)
        ],
        "gsm8k": [
            {"id": f"gsm8k-test-{i:04d}", "problem": f"{i}+1?", "answer": str(i + 1)}
            for i in range(count)
        ],
    }
    for name, items in rows.items():
        (root / name).mkdir(parents=True)
        (root / name / "test.jsonl").write_text("\n".join(json.dumps(r) for r in items) + "\n")
    return root


def test_local_layout_keeps_level_and_subject(tmp_path):
    data = write_sets(tmp_path / "data")
    problems = tasks.load_problems(tasks.load_spec("math500"), data_dir=str(data))
    assert [p.difficulty for p in problems] == ["1", "2", "3", "4"]
    assert [p.subject for p in problems] == ["Geometry", "Algebra", "Geometry", "Algebra"]
    assert problems[1].gold == "\\frac{1}{2}" and problems[1].problem_id == "test/algebra/1.json"


def test_hub_layout_maps_fields_and_takes_gsm8k_gold_after_hashes(monkeypatch):
    hub_rows = [{"question": "2+2?", "answer": "Two and two.\n#### 1,004"}]
    monkeypatch.setattr(
        tasks, "_rows_from_hub", lambda source, task: [tasks._Row("hub row 1", r) for r in hub_rows]
    )
    (problem,) = tasks.load_problems(tasks.load_spec("gsm8k"))
    assert (problem.question, problem.gold) == ("2+2?", "1004")


def test_offline_hub_failure_names_the_fix(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(tasks.TaskError, match="suite.data_dir .*math500/test.jsonl"):
        tasks.load_problems(tasks.load_spec("math500"))


def test_missing_local_set_is_a_clear_error(tmp_path):
    with pytest.raises(tasks.TaskError, match="aime2024/test.jsonl"):
        tasks.load_problems(tasks.load_spec("aime24"), data_dir=str(tmp_path))


def test_one_path_for_a_many_task_suite_is_refused(make_cfg, tmp_path):
    cfg = make_cfg("suite=math", f"suite.path={tmp_path / 'x.jsonl'}")
    with pytest.raises(ConfigError, match="suite.data_dir"):
        load_suite(cfg.suite)


@pytest.mark.slow
def test_math_sweep_records_subject_and_regrade_counts_changes(make_cfg, tmp_path):
    data = write_sets(tmp_path / "data")
    cfg = make_cfg("engine=fake", "suite=math500", f"suite.data_dir={data}", "budget.tokens=[8,64]")
    run_dir = Sweep(cfg).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert len(records) == 8 and set(records["subject"]) == {"Algebra", "Geometry"}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["data_sha256"]) == 64

    # Flip one stored verdict, as an older grader might have: re-grading finds it.
    grades = pd.read_parquet(next((run_dir / "grades").glob("*.parquet")))
    flipped = grades.iloc[:1].assign(correct=~grades["correct"].iloc[:1])
    flipped.to_parquet(run_dir / "grades" / "part-99999.parquet")
    result = bench("grade", str(run_dir), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "graded 8 attempt(s); 1 verdict(s) changed" in result.stdout
    assert "  comparison: other: 1 now " in result.stdout  # the reason, with its direction
