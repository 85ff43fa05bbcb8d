"""A run folder is never lost or corrupted: one writer at a time, plain run
names, damaged files named and set aside, read-only commands that stay
read-only, SIGTERM handled like Ctrl-C, and one line with a documented exit
code for every careless input."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import bench

from bench.cli.main import EXIT_BAD_INPUT, EXIT_DAMAGED, EXIT_LOCKED, EXIT_TERMINATED, main
from bench.config.checks import validate_run_name
from bench.config.schema import ConfigError
from bench.run.lock import RunLock, RunLockedError, holder
from bench.run.store import DamagedRunError, DiskFullError, RunStore, _temporary
from bench.sweep.compose import validate
from bench.sweep.runner import Sweep

FAKE = ["engine=fake", "budget=smoke", "report=false", "engine.show_progress=false"]
COMPARED = ["key", "answer_text", "thinking_tokens", "answer_tokens", "correct"]


def _records(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "records.parquet")[COMPARED]
    return frame.sort_values("key").reset_index(drop=True)


def _sweep(results: Path, *extra: str) -> subprocess.CompletedProcess:
    return bench("sweep", *FAKE, f"results_dir={results}", *extra, timeout=240)


def _popen_sweep(results: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "sweep", *FAKE, f"results_dir={results}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _wait_for_parts(run_dir: Path, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(list((run_dir / "generations").glob("part-*.parquet"))) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count} parts in {run_dir} within {timeout_s} s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the sweep the tests below disturb."""
    results = tmp_path_factory.mktemp("reference")
    result = _sweep(results, "suite.limit=8", "run_name=ref")
    assert result.returncode == 0, result.stderr
    return results / "ref"


# ---- names ----


@pytest.mark.parametrize(
    "name", ["../x", "/abs", ".", "..", "latest", "a/b", "", " x", "x y", "-x", "a\x00b", "é"]
)
def test_run_names_that_are_paths_or_reserved_are_refused(name):
    with pytest.raises(ConfigError, match="run_name"):
        validate_run_name(name)


@pytest.mark.parametrize("name", ["qwen3-8b_math.v2", "A", "run-2026-11-29", "x" * 128])
def test_plain_run_names_are_accepted(name):
    validate_run_name(name)


def test_nothing_is_written_outside_results_dir(tmp_path):
    results = tmp_path / "results"
    for name in ("../outside", "/tmp/outside-abs", "latest"):
        result = _sweep(results, "suite.limit=2", f"run_name={name}")
        assert result.returncode == EXIT_BAD_INPUT and "run_name" in result.stderr
    assert not (tmp_path / "outside").exists() and not Path("/tmp/outside-abs").exists()
    assert not (results / "latest").is_dir() or (results / "latest").is_symlink()


def test_a_folder_that_is_not_a_run_is_not_adopted(tmp_path):
    foreign = tmp_path / "results" / "mine"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep me")
    result = _sweep(tmp_path / "results", "suite.limit=2", "run_name=mine")
    assert result.returncode == EXIT_BAD_INPUT and "is not a thinkbench run" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_a_run_stopped_by_bad_input_can_start_again_under_its_name(tmp_path):
    """A sweep refused after its folder was made (a prompt too long for the
    context) leaves only its engine log: the corrected sweep may use the name."""
    results = tmp_path / "results"
    long_prompts = ("suite=thinkbench_stdin", "suite.limit=1", "budget.tokens=[16]")
    refused = _sweep(results, *long_prompts, "run_name=again", "model.max_model_len=600")
    assert refused.returncode == EXIT_BAD_INPUT and "exceed max_model_len" in refused.stderr
    assert (results / "again").is_dir() and not (results / "again" / "manifest.json").exists()
    done = _sweep(results, "suite.limit=2", "run_name=again")
    assert done.returncode == 0, done.stderr[-1500:]
    assert (results / "again" / "manifest.json").exists()


@pytest.mark.parametrize("workers", [-1, 0, 65, 100_000])
def test_grading_workers_are_bounded(make_cfg, workers):
    with pytest.raises(ConfigError, match="grading_workers"):
        validate(make_cfg(f"grading_workers={workers}"))


# ---- one writer ----


def test_the_lock_names_its_holder_and_frees_itself_when_the_holder_dies(tmp_path):
    with RunLock(tmp_path, "bench sweep"):
        assert holder(tmp_path)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path, "bench sweep").acquire()
    assert holder(tmp_path) is None
    # A holder killed with SIGKILL: its lock is free at once (flock), no stale file to clean.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from bench.run.lock import RunLock; "
            f"RunLock({str(tmp_path)!r}, 'x').acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    assert holder(tmp_path)["pid"] == child.pid
    child.kill()
    child.wait()
    with RunLock(tmp_path, "bench sweep"):
        assert holder(tmp_path)["pid"] == os.getpid()


@pytest.mark.slow
def test_a_second_sweep_on_a_running_run_refuses_or_waits(tmp_path, reference):
    results = tmp_path / "results"
    first = _popen_sweep(results, "suite.limit=8", "engine.delay_s=0.4", "store_interval_s=0.1")
    run_dir = None
    deadline = time.monotonic() + 60
    while run_dir is None and time.monotonic() < deadline:
        found = [p for p in results.glob("*/.lock") if holder(p.parent)]
        run_dir = found[0].parent if found else None
        time.sleep(0.1)
    assert run_dir is not None
    # The same command, without run_name: it finds the running run and refuses.
    second = _sweep(results, "suite.limit=8")
    assert second.returncode == EXIT_LOCKED
    assert f"pid {first.pid}" in second.stderr and second.stderr.count("\n") == 1
    waiting = _sweep(results, "suite.limit=8", "wait_for_lock=true")
    assert waiting.returncode == 0 and "waiting for bench sweep" in waiting.stdout
    assert first.wait(timeout=120) == 0
    assert _records(run_dir).equals(_records(reference))


def test_parts_never_overwrite_each_other(tmp_path):
    """Writers that race for the same part number both keep their rows."""
    stores = [RunStore(tmp_path) for _ in range(4)]
    threads = [
        threading.Thread(
            target=lambda s=s, i=i: [
                s.append_generations([{"key": f"{i}-{j}", "value": j}]) for j in range(10)
            ]
        )
        for i, s in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parts = sorted((tmp_path / "generations").glob("part-*.parquet"))
    assert len(parts) == 40 and len(RunStore(tmp_path).generations()) == 40
    assert not list((tmp_path / "generations").glob(".*.tmp"))
    assert _temporary(tmp_path / "x") != _temporary(tmp_path / "x")


# ---- read-only commands ----


@pytest.mark.slow
def test_a_report_during_a_sweep_leaves_both_correct(tmp_path, reference):
    results = tmp_path / "results"
    sweep = _popen_sweep(
        results, "suite.limit=8", "engine.delay_s=0.4", "store_interval_s=0.1", "run_name=live"
    )
    run_dir = results / "live"
    _wait_for_parts(run_dir, 1)
    assert main(["report", str(run_dir)]) == 0  # while the sweep runs
    assert sweep.wait(timeout=120) == 0, sweep.stdout.read()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["records"] == 40
    assert manifest["engine_work"]["calls"]  # the sweep's own numbers, not lost
    assert _records(run_dir).equals(_records(reference))


def test_read_only_commands_never_rewrite_the_manifest(tmp_path, reference):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    before = (run_dir / "manifest.json").read_bytes()
    assert main(["report", str(run_dir)]) == 0
    assert main(["route", str(run_dir), "--splits", "2", "--out", str(tmp_path / "route")]) == 0
    other = tmp_path / "other"
    shutil.copytree(reference, other)
    assert main(["compare", str(run_dir), str(other), "--out", str(tmp_path / "cmp")]) == 0
    assert (run_dir / "manifest.json").read_bytes() == before
    assert json.loads((run_dir / "report" / "report.json").read_text())["records"] == 40


# ---- damaged files ----


DAMAGE = {
    "truncated part": lambda run: _truncate(next((run / "generations").glob("part-*"))),
    "empty part": lambda run: (run / "grades" / "part-00042.parquet").write_bytes(b""),
    "foreign file": lambda run: (run / "generations" / "part-00077.parquet").write_text("a,b\n1,2"),
    "part without keys": lambda run: pd.DataFrame({"x": [1]}).to_parquet(
        run / "grades" / "part-00050.parquet"
    ),
}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_named_then_set_aside_and_the_run_resumes(tmp_path, reference, damage):
    import shutil

    run_dir = tmp_path / "results" / "ref"
    shutil.copytree(reference, run_dir)
    DAMAGE[damage](run_dir)
    for command in (["report"], ["grade"], ["route", "--splits", "2"]):
        assert main([command[0], str(run_dir), *command[1:]]) == EXIT_DAMAGED
    with pytest.raises(DamagedRunError, match="bench repair"):
        RunStore(run_dir).generations(), RunStore(run_dir).grades()
    assert main(["repair", str(run_dir)]) == 0
    assert list((run_dir / "damaged").iterdir())
    result = _sweep(tmp_path / "results", "suite.limit=8", "run_name=ref")
    assert result.returncode == 0, result.stderr
    assert _records(run_dir).equals(_records(reference))


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '{"config": "a string"}', '{"engine_work": [1]}']
)
@pytest.mark.parametrize("command", ["report", "grade", "route", "merge"])
def test_a_damaged_manifest_is_one_line_in_every_command(tmp_path, reference, text, command):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    (run_dir / "manifest.json").write_text(text)
    extra = ["--into", str(tmp_path / "merged")] if command == "merge" else []
    assert main([command, str(run_dir), *extra]) == EXIT_DAMAGED


# ---- interruption ----


@pytest.mark.slow
def test_sigterm_stores_what_finished_and_exits_like_ctrl_c(tmp_path, reference):
    results = tmp_path / "results"
    sweep = _popen_sweep(
        results, "suite.limit=8", "engine.delay_s=0.4", "store_interval_s=0.1", "run_name=ref"
    )
    _wait_for_parts(results / "ref", 1)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=60) == EXIT_TERMINATED
    assert "terminated (SIGTERM); what finished is stored" in sweep.stdout.read()
    manifest = json.loads((results / "ref" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert _sweep(results, "suite.limit=8", "run_name=ref").returncode == 0
    assert _records(results / "ref").equals(_records(reference))


@pytest.mark.slow
def test_the_watchdog_kills_what_a_killed_parent_started(tmp_path):
    script = (
        "import os, subprocess, sys, time\n"
        "from bench import watchdog\n"
        "watchdog.start(os.getpid())\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        '\'import subprocess, time; p = subprocess.Popen(["sleep", "600"]); '
        "print(p.pid, flush=True); time.sleep(600)'], stdout=subprocess.PIPE, text=True)\n"
        "print(child.pid, child.stdout.readline().strip(), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    time.sleep(1.5)  # the watchdog notes the tree
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.2)
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
    assert alive == []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


# ---- disk full while finishing ----


def test_disk_full_while_drawing_leaves_a_complete_run_and_no_half_files(make_cfg, monkeypatch):
    import matplotlib.figure

    def no_space(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"half a figure")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", no_space)
    cfg = make_cfg(
        "engine=fake", "suite.limit=3", "budget.tokens=[8,64]", "run_name=full", "plots=true"
    )
    with pytest.raises(DiskFullError, match="its records are complete"):
        Sweep(cfg).run()
    run_dir = Path(cfg.results_dir) / "full"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["records"] == 6
    assert not list(run_dir.glob("*.png")) and not list(run_dir.glob(".*.tmp"))


# ---- one line for careless input ----


@pytest.mark.parametrize(
    "args, needle",
    [
        (["~budget"], "deleting config keys"),
        (["+budget.tokns=[16]"], "did you mean budget.tokens"),
        (["budget.tokens=[99999999999999999999]"], "at most"),
        (["run_name=../x"], "run_name"),
        (["grading_workers=-2"], "grading_workers"),
    ],
)
def test_careless_sweep_options_are_one_line(tmp_path, args, needle):
    result = _sweep(tmp_path, "suite.limit=2", *args)
    assert result.returncode == EXIT_BAD_INPUT
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


DATA = {
    "empty": b"",
    "null answer": b'{"question": "1+1?", "answer": null}\n',
    "lone surrogate": b'{"question": "\\ud800 1+1?", "answer": "2"}\n',
    "invalid utf-8": b'{"question": "caf\xe9 1+1?", "answer": "2"}\n',
}


@pytest.mark.parametrize("name", sorted(DATA))
def test_careless_data_is_one_line_naming_the_problem(tmp_path, name):
    path = tmp_path / "data.jsonl"
    path.write_bytes(DATA[name])
    result = _sweep(tmp_path / "results", "suite.limit=2", f"suite.path={path}")
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert str(path) in result.stderr and "Traceback" not in result.stderr
    expected = {
        "empty": "no rows",
        "null answer": "null or empty",
        "lone surrogate": "lone surrogate",
        "invalid utf-8": "not valid UTF-8",
    }[name]
    assert expected in result.stderr


def test_results_dir_that_is_a_file_and_a_folder_as_suite_path(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = _sweep(afile, "suite.limit=2")
    assert result.returncode == EXIT_BAD_INPUT and "is a file" in result.stderr
    result = _sweep(tmp_path / "r", "suite.limit=2", f"suite.path={tmp_path}")
    assert result.returncode == EXIT_BAD_INPUT and "is a folder" in result.stderr


def test_careless_run_commands_are_one_line(tmp_path, reference, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["route", str(run_dir), "--splits", "0"]) == EXIT_BAD_INPUT
    assert main(["merge", str(run_dir), "--into", str(afile)]) == EXIT_BAD_INPUT
    assert main(["merge", str(run_dir), "--into", str(run_dir)]) == EXIT_BAD_INPUT
    ungraded = tmp_path / "ungraded"
    shutil.copytree(reference, ungraded)
    shutil.rmtree(ungraded / "grades")
    (ungraded / "grades").mkdir()
    assert main(["route", str(ungraded)]) == EXIT_BAD_INPUT
    assert main(["compare", str(run_dir), str(ungraded)]) == EXIT_BAD_INPUT
    other = tmp_path / "other"
    shutil.copytree(reference, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["config"]["suite"]["name"] = "gsm8k"
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert main(["compare", str(run_dir), str(other)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err and "different suites" in err and "no graded records" in err


def test_from_manifest_with_tampered_fields_is_one_line(tmp_path, reference):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["config"]["suite"]["path"] = str(tmp_path / "missing.jsonl")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    result = bench("sweep", "--from-manifest", str(run_dir), f"results_dir={tmp_path / 'r'}")
    assert result.returncode == EXIT_BAD_INPUT and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "versions, fragment",
    [
        ("not a mapping", "'versions' is a str, not a dict"),
        (["vllm", "0.32"], "'versions' is a list, not a dict"),
        ({"vllm": 32}, "'versions.vllm' is a int, not a version string"),
        ({"torch": ["2.13"]}, "'versions.torch' is a list, not a version string"),
    ],
)
def test_from_manifest_with_versions_of_the_wrong_type_is_damaged(
    tmp_path, reference, versions, fragment
):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["versions"] = versions
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    result = bench("sweep", "--from-manifest", str(run_dir), f"results_dir={tmp_path / 'r'}")
    assert result.returncode == EXIT_DAMAGED, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "manifest.json is damaged" in lines[0]
    assert not (tmp_path / "r").exists()


def test_from_manifest_says_which_versions_changed_and_keeps_both(tmp_path, reference):
    import shutil

    from bench.run.manifest import package_versions

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["versions"] = {**manifest["versions"], "thinkbench": "0.0.1", "torch": None}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    results = tmp_path / "r"
    result = bench(
        "sweep", "--from-manifest", str(run_dir), f"results_dir={results}", "summary=false"
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    now = package_versions()
    assert len(warnings) == 1 and f"thinkbench 0.0.1 -> {now['thinkbench']}" in warnings[0]
    assert ("torch None -> " in warnings[0]) == (now.get("torch") is not None)
    (new,) = [
        json.loads(p.read_text())
        for p in results.glob("*/manifest.json")
        if not p.parent.is_symlink()
    ]
    assert new["versions"]["thinkbench"] == now["thinkbench"]
    assert new["reproduces"]["versions"]["thinkbench"] == "0.0.1"
    assert new["reproduces"]["manifest"] == str((run_dir / "manifest.json").resolve())
