"""The terminal tells the story: the results table at the end of a sweep
(read from the run's files), engine logs in RUN/engine.log, and bench runs /
bench show over stored runs, damaged ones included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import bench

from bench.cli.main import main
from bench.engines.log import engine_log
from bench.report.summary import format_table, run_listing, summary_rows
from bench.run.lock import RunLock

FAKE = ["engine=fake", "budget.tokens=[8,64]", "engine.show_progress=false"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("runs")
    result = bench("sweep", *FAKE, "suite.limit=6", f"results_dir={results}", "run_name=done")
    assert result.returncode == 0, result.stderr
    return results


@pytest.mark.slow
def test_a_sweep_ends_with_the_table_read_from_its_files(stored, tmp_path):
    result = bench("sweep", *FAKE, "suite.limit=6", f"results_dir={tmp_path}", "run_name=t")
    out = result.stdout.strip().splitlines()
    assert out[-1].startswith(f"done: {tmp_path / 't'}") and "report: " in out[-1]
    scaling = pd.read_csv(tmp_path / "t" / "scaling.csv")
    for _, row in scaling[scaling["method"] == "sample"].iterrows():
        line = next(
            x
            for x in out
            if x.split()[3:4] == [str(row["budget"])] or x.split()[3:5] == [str(row["budget"]), "*"]
        )
        assert f"{row['accuracy']:.3f}" in line  # the same number as the file
    assert sum("*" in x.split()[3:5] for x in out if x.startswith("smollm2")) == 1
    # A second invocation generates nothing and says so in one line.
    again = bench(
        "sweep", *FAKE, "suite.limit=6", f"results_dir={tmp_path}", "run_name=t", "summary=false"
    )
    assert again.stdout.strip().splitlines() == [
        line for line in again.stdout.strip().splitlines() if line.startswith("done:")
    ]
    assert "nothing new" in again.stdout


def test_show_prints_the_table_and_json(stored, capsys):
    assert main(["show", str(stored / "done")]) == 0
    text = capsys.readouterr().out
    assert "accuracy (95% CI)" in text and "report: " in text
    assert main(["show", str(stored / "done"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["budget"] for r in rows} == {8, 64} and sum(r["best"] for r in rows) == 1


def test_runs_lists_complete_partial_running_and_damaged(stored, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(stored / "done", results / "complete")
    shutil.copytree(stored / "done", results / "stopped")
    manifest = json.loads((results / "stopped" / "manifest.json").read_text())
    (results / "stopped" / "manifest.json").write_text(json.dumps(manifest | {"status": "running"}))
    shutil.copytree(stored / "done", results / "live")
    shutil.copytree(stored / "done", results / "broken")
    (results / "broken" / "manifest.json").write_text("{nope")
    (results / "not-a-run").mkdir()
    with RunLock(results / "live", "bench sweep"):
        listing = {entry["run"]: entry for entry in run_listing(results)}
        assert main(["runs", str(results)]) == 0
    assert set(listing) == {"complete", "stopped", "live", "broken"}
    assert listing["complete"]["status"] == "complete" and listing["complete"]["records"] == 12
    assert listing["stopped"]["status"].startswith("partial")
    assert listing["live"]["status"].startswith("running (pid ")
    assert listing["broken"]["status"].startswith("damaged: not valid JSON")
    out = capsys.readouterr().out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 5


def test_runs_on_an_empty_or_missing_folder(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "missing")]) == 2


def test_the_best_point_is_the_cheapest_within_the_best_interval():
    rows = [
        {
            "model": "m",
            "task": "t",
            "strategy": "s",
            "budget": b,
            "accuracy": a,
            "ci_low": lo,
            "ci_high": hi,
            "mean_thinking_tokens": b,
            "usd": b / 1000,
        }
        for b, a, lo, hi in [
            (8, 0.2, 0.1, 0.3),
            (16, 0.6, 0.5, 0.7),
            (32, 0.65, 0.55, 0.75),
            (64, 0.66, 0.56, 0.76),
        ]
    ]
    from bench.report.summary import _mark_best

    _mark_best(rows)
    assert [r["budget"] for r in rows if r["best"]] == [16]
    assert "16 *" in format_table(rows)


def test_engine_output_goes_to_the_run_log(tmp_path):
    """What the engine (and its child processes) write to stderr lands in
    RUN/engine.log; the progress stream still reaches the terminal."""
    script = (
        "import subprocess, sys\n"
        "from bench.engines.log import engine_log\n"
        f"with engine_log({str(tmp_path)!r}) as terminal:\n"
        "    subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"child noise\\\\n\")'])\n"
        "    print('python warning', file=sys.stderr)\n"
        "    terminal.write('progress\\n')\n"
        "print('after', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    log = (tmp_path / "engine.log").read_text()
    assert "child noise" in log and "python warning" in log
    assert "progress" in result.stderr and "after" in result.stderr
    assert "child noise" not in result.stderr
    with engine_log(tmp_path, verbose=True) as terminal:
        assert terminal is sys.stderr


def test_summary_of_a_run_without_tables_says_so(tmp_path):
    assert summary_rows(tmp_path) == []
    assert "no graded records" in format_table([], "x")
