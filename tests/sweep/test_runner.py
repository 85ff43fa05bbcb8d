"""The whole pipeline on the fake engine: files, tables from records, resume."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.analysis.metrics import scaling_table
from bench.run.store import RunStore
from bench.sweep.runner import Sweep

REQUIRED = {
    "model",
    "task",
    "problem_id",
    "difficulty",
    "strategy",
    "budget",
    "sample",
    "prompt_tokens",
    "thinking_tokens",
    "answer_tokens",
    "hit_budget",
    "answer",
    "correct",
    "seconds",
    "thinking_text",
    "answer_text",
}


def test_sweep_writes_everything(make_cfg, tmp_path):
    cfg = make_cfg("engine=fake", "run_name=a", "suite.limit=30", "report=true", "plots=true")
    run_dir = Sweep(cfg).run()
    for name in ("records.parquet", "manifest.json", "scaling.csv", "accuracy_vs_thinking.png"):
        assert (run_dir / name).is_file(), name
    for name in ("index.html", "README.md", "cost.csv", "accuracy_vs_cost.png"):
        assert (run_dir / "report" / name).is_file(), name
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert set(records.columns) >= REQUIRED
    assert len(records) == 30 * 5
    assert (records["thinking_tokens"] <= records["budget"]).all()
    scaling = pd.read_csv(run_dir / "scaling.csv")
    assert scaling["budget"].tolist() == [16, 32, 64, 128, 256]
    again = scaling_table(records)
    pd.testing.assert_frame_equal(scaling, again, check_dtype=False, rtol=1e-5)
    by_level = pd.read_csv(run_dir / "scaling_by_difficulty.csv")
    assert sorted(by_level["difficulty"].unique()) == [1, 2, 3]
    assert by_level["n"].sum() == 30 * 5  # each problem once per budget
    level_one = records[(records["difficulty"] == "1") & (records["budget"] == 16)]
    row = by_level[(by_level["difficulty"] == 1) & (by_level["budget"] == 16)].iloc[0]
    assert row["accuracy"] == pytest.approx(level_one["correct"].astype(float).mean())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["adherence"]["ok"]
    assert len(manifest["data_sha256"]) == 64
    assert manifest["config"]["budget"]["tokens"] == [16, 32, 64, 128, 256]


def test_rerun_generates_nothing(make_cfg, monkeypatch):
    cfg = make_cfg("engine=fake", "run_name=b", "suite.limit=12")
    run_dir = Sweep(cfg).run()
    parts = sorted((run_dir / "generations").iterdir())
    # Spy where generation really happens: every request reaches the engine's
    # complete(). The spy sees the first run's requests, so it can fail.
    from bench.engines.fake import FakeEngine

    calls = []
    original = FakeEngine.complete
    monkeypatch.setattr(
        FakeEngine, "complete", lambda self, request: calls.append(1) or original(self, request)
    )
    Sweep(make_cfg("engine=fake", "run_name=fresh", "suite.limit=12")).run()
    assert calls, "the spy must see a run that generates"
    calls.clear()
    Sweep(make_cfg("engine=fake", "run_name=b", "suite.limit=12")).run()
    assert calls == []
    assert sorted((run_dir / "generations").iterdir()) == parts


def test_resume_after_partial_batches_matches_uninterrupted(make_cfg):
    full = Sweep(make_cfg("engine=fake", "run_name=full", "suite.limit=24")).run()
    partial_cfg = make_cfg("engine=fake", "run_name=part", "suite.limit=24", "store_interval_s=0")
    part_dir = Sweep(partial_cfg).run()
    store = RunStore(part_dir)
    first_part = sorted((part_dir / "generations").glob("part-*.parquet"))[1]
    first_part.unlink()  # as if the run had died before writing this batch
    resumed = Sweep(partial_cfg).run()
    columns = ["key", "problem_id", "budget", "thinking_tokens", "answer_tokens", "correct"]
    a = pd.read_parquet(full / "records.parquet")[columns].sort_values("key").reset_index(drop=True)
    b = (
        pd.read_parquet(resumed / "records.parquet")[columns]
        .sort_values("key")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(a, b)
    assert store.generations()["key"].is_unique


def test_default_run_name_resumes_the_same_config(make_cfg):
    first = Sweep(make_cfg("engine=fake", "suite.limit=6")).run()
    second = Sweep(make_cfg("engine=fake", "suite.limit=6")).run()
    third = Sweep(make_cfg("engine=fake", "suite.limit=7")).run()
    assert first == second and third != first


def test_changing_the_budget_list_reuses_nothing_wrongly(make_cfg):
    cfg = make_cfg("engine=fake", "run_name=c", "suite.limit=6", "budget.tokens=[16,32]")
    run_dir = Sweep(cfg).run()
    cfg2 = make_cfg("engine=fake", "run_name=c", "suite.limit=6", "budget.tokens=[16,32,64]")
    Sweep(cfg2).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert sorted(records["budget"].unique()) == [16, 32, 64]
    assert records["key"].is_unique and len(records) == 18


def test_prompt_too_long_for_context_is_refused(make_cfg):
    from bench.config.schema import ConfigError

    cfg = make_cfg("engine=fake", "suite.limit=3", "model.max_model_len=400")
    with pytest.raises(ConfigError, match="exceed max_model_len"):
        Sweep(cfg).run()


def test_run_dir_of_another_model_is_refused(make_cfg):
    from bench.config.schema import ConfigError

    Sweep(make_cfg("engine=fake", "run_name=d", "suite.limit=3")).run()
    with pytest.raises(ConfigError, match="different model"):
        Sweep(
            make_cfg(
                "engine=fake",
                "run_name=d",
                "suite.limit=3",
                "model=qwen3-0.6b",
                "budget.tokens=[16]",
            )
        ).run()


def test_crash_mid_sweep_keeps_finished_problems(make_cfg, monkeypatch):
    """An engine that dies part-way: finished problems are kept, the re-run completes the rest."""
    from bench.engines import fake

    original = fake.FakeStream.__iter__

    def dies_after_twenty(self):
        for count, item in enumerate(original(self)):
            if count == 20:
                raise RuntimeError("engine died")
            yield item

    monkeypatch.setattr(fake.FakeStream, "__iter__", dies_after_twenty)
    cfg = make_cfg("engine=fake", "run_name=crash", "suite.limit=15", "store_interval_s=1000")
    with pytest.raises(RuntimeError, match="engine died"):
        Sweep(cfg).run()
    store = RunStore(cfg.results_dir + "/crash")
    kept = store.generations()
    assert 0 < kept["problem_id"].nunique() < 15  # finished problems survived without a flush
    monkeypatch.setattr(fake.FakeStream, "__iter__", original)
    run_dir = Sweep(cfg).run()
    full = Sweep(make_cfg("engine=fake", "run_name=whole", "suite.limit=15")).run()
    columns = ["key", "thinking_tokens", "answer_tokens", "correct"]
    a = (
        pd.read_parquet(run_dir / "records.parquet")[columns]
        .sort_values("key")
        .reset_index(drop=True)
    )
    b = pd.read_parquet(full / "records.parquet")[columns].sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_stored_parts_follow_the_record_schema(make_cfg):
    """bench/run/records.py names every column a part holds: nothing more, nothing less."""
    from bench.run.columns import GENERATION, GRADE
    from bench.run.store import RunStore

    run_dir = Sweep(make_cfg("engine=fake", "suite.limit=4", "budget.tokens=[0,16]")).run()
    store = RunStore(run_dir)
    assert list(store.generations().columns) == list(GENERATION)
    assert list(store.grades().columns) == list(GRADE)


def test_the_engine_starts_before_the_timed_span_and_only_with_work(make_cfg, monkeypatch):
    """Engine seconds price every token (cost.py): a start inside the span
    they time made a short run's tokens look dear. A rerun with nothing to
    generate does not start the engine at all."""
    import json
    import time

    from bench.engines.fake import FakeEngine

    starts = []
    monkeypatch.setattr(
        FakeEngine, "start", lambda self: starts.append(1) or time.sleep(0.5), raising=False
    )
    cfg = make_cfg("engine=fake", "run_name=timed", "suite.limit=6")
    run_dir = Sweep(cfg).run()
    assert starts == [1]
    work = json.loads((run_dir / "manifest.json").read_text())["engine_work"]
    assert work["seconds"] < 0.5
    Sweep(make_cfg("engine=fake", "run_name=timed", "suite.limit=6")).run()
    assert starts == [1]
