"""Bad input gets one clear line and loses nothing; kills at any moment lose nothing."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.config.schema import ConfigError
from bench.run.store import DiskFullError, RunStore
from bench.sweep.runner import Sweep
from bench.tasks.loader import TaskError

COMPARED = [
    "key",
    "problem_id",
    "budget",
    "sample",
    "prompt_tokens",
    "thinking_tokens",
    "answer_tokens",
    "engine_tokens",
    "hit_budget",
    "finish",
    "answer",
    "correct",
    "thinking_text",
    "answer_text",
]  # everything but `seconds`, a timing


def _records(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "records.parquet")[COMPARED]
    return frame.sort_values("key").reset_index(drop=True)


def _bench(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"question": "1 + 1?", "answer": "2"})


def test_malformed_row_stops_with_file_and_line(make_cfg, tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", [GOOD, "{not json", GOOD])
    cfg = make_cfg("engine=fake", f"suite.path={data}")
    with pytest.raises(
        TaskError, match=r"d.jsonl:2: not a valid JSON object.*suite.on_bad_row=skip"
    ):
        Sweep(cfg).run()


def test_malformed_rows_skipped_and_counted(make_cfg, tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", [GOOD, "[1, 2]", json.dumps({"question": "x"}), GOOD])
    cfg = make_cfg("engine=fake", f"suite.path={data}", "suite.on_bad_row=skip", "run_name=s")
    run_dir = Sweep(cfg).run()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["skipped_rows"]["count"] == 2
    assert "d.jsonl:3: lacks field(s) ['answer']" in manifest["skipped_rows"]["first"][1]
    assert pd.read_parquet(run_dir / "records.parquet")["problem_id"].nunique() == 2


def test_run_dir_from_another_store_version_is_refused(make_cfg):
    run_dir = Sweep(make_cfg("engine=fake", "suite.limit=3", "run_name=v")).run()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["store_version"] = 0
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    before = sorted((run_dir / "generations").iterdir())
    with pytest.raises(ConfigError, match="store version 0"):
        Sweep(make_cfg("engine=fake", "suite.limit=3", "run_name=v")).run()
    assert sorted((run_dir / "generations").iterdir()) == before


def test_disk_full_stops_cleanly_and_keeps_what_was_stored(make_cfg, monkeypatch):
    cfg = make_cfg("engine=fake", "suite.limit=12", "run_name=full", "store_interval_s=0")
    original = pd.DataFrame.to_parquet
    writes = {"n": 0}

    def fills_up(self, path, *args, **kwargs):
        writes["n"] += 1
        if writes["n"] > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fills_up)
    with pytest.raises(DiskFullError, match="disk full while writing .*re-run the same command"):
        Sweep(cfg).run()
    run_dir = Path(cfg.results_dir) / "full"
    assert not list(run_dir.rglob(".*.tmp"))  # no half-written file left behind
    kept = RunStore(run_dir).generations()
    assert 0 < kept["problem_id"].nunique() < 12
    monkeypatch.setattr(pd.DataFrame, "to_parquet", original)
    resumed = Sweep(cfg).run()
    whole = Sweep(make_cfg("engine=fake", "suite.limit=12", "run_name=whole")).run()
    pd.testing.assert_frame_equal(_records(resumed), _records(whole))


@pytest.mark.slow
def test_from_manifest_reproduces_the_run(tmp_path):
    results = tmp_path / "results"
    first = _bench(
        "sweep",
        "engine=fake",
        "suite.limit=6",
        "budget.tokens=[16,64]",
        "run_name=a",
        f"results_dir={results}",
    )
    assert first.wait(120) == 0, first.stdout.read()
    again = _bench("sweep", "--from-manifest", str(results / "a" / "manifest.json"))
    assert again.wait(120) == 0, again.stdout.read()
    a, b = _records(results / "a"), _records(results / "a-repro")
    pd.testing.assert_frame_equal(a.drop(columns="key"), b.drop(columns="key"))
    assert list(a["key"]) == list(b["key"])  # the same content hashes: the same work


def _kill_then_resume(args: list[str], wait_s: float) -> bool:
    """Start a sweep, SIGKILL it `wait_s` after its sweep began, run it again to the end.
    Returns whether the kill landed while the first run was still working."""
    victim = _bench(*args)
    for line in victim.stdout:  # wait until the sweep itself has started
        if line.startswith("run:"):
            break
    time.sleep(wait_s)
    landed = victim.poll() is None
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    resumed = _bench(*args)
    output = resumed.stdout.read()
    assert resumed.wait(300) == 0, output
    return landed


TRIALS = 12


@pytest.mark.slow
def test_killed_sweeps_resume_to_exactly_the_uninterrupted_records(tmp_path):
    """SIGKILL at random moments (TRIALS of them); each re-run completes to the
    same records. No report or figure: the kills are aimed at generation and
    grading (0 to 1.5 s into the sweep), and drawing the page after each
    re-run doubled the test's time (the page beside a running sweep is
    test_run_store's)."""
    from concurrent.futures import ThreadPoolExecutor

    results = tmp_path / "results"
    common = [
        "sweep",
        "engine=fake",
        "engine.delay_s=0.004",
        "suite.limit=60",
        "store_interval_s=0.1",
        "report=false",
        "plots=false",
        f"results_dir={results}",
    ]
    baseline = _bench(*common, "run_name=base")
    assert baseline.wait(300) == 0, baseline.stdout.read()
    expected = _records(results / "base")
    rng = random.Random(7)
    trials = [([*common, f"run_name=k{t}"], rng.uniform(0.0, 1.5)) for t in range(TRIALS)]
    with ThreadPoolExecutor(max_workers=3) as pool:  # processes, so threads only wait
        landed = list(pool.map(lambda trial: _kill_then_resume(*trial), trials))
    for t in range(TRIALS):
        got = _records(results / f"k{t}")
        assert got["key"].is_unique
        pd.testing.assert_frame_equal(got, expected)
    assert sum(landed) >= TRIALS * 3 // 4  # the kills really landed mid-sweep


@pytest.mark.slow
def test_the_300_problem_sweep_killed_and_rerun_matches(tmp_path):
    """The issue's own command: killed mid-way, re-run, the same records.parquet contents."""
    results = f"results_dir={tmp_path}"
    args = ["sweep", "engine=fake", "suite=arith", "suite.limit=300", "budget=smoke", results]
    whole = _bench(*args, "run_name=whole")
    assert whole.wait(300) == 0, whole.stdout.read()
    assert _kill_then_resume(
        [*args, "run_name=X", "engine.delay_s=0.001", "store_interval_s=0.2"], 1.0
    )
    expected, got = _records(tmp_path / "whole"), _records(tmp_path / "X")
    assert len(got) == 300 * 5
    pd.testing.assert_frame_equal(got, expected)
