"""Scale-out on the fake engine: shards merged equal the unsharded run, merge
refuses runs that are not shards of one sweep, -m runs each job in its own
process, and the cluster launcher configs compose."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import CONFIG_DIR, bench
from hydra import compose, initialize_config_dir

from bench.config.schema import ConfigError, register
from bench.run.merge import merge_runs
from bench.sweep.compose import compose as compose_sweep
from bench.sweep.runner import run_sweep


def records(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "records.parquet").drop(columns=["seconds"])
    return frame.sort_values("key").reset_index(drop=True)


SWEEP = ("engine=fake", "suite=arith", "suite.limit=11", "budget.tokens=[16,64]")


@pytest.mark.slow
def test_merged_shards_equal_the_unsharded_run(make_cfg, tmp_path):
    whole = run_sweep(make_cfg(*SWEEP, "run_name=whole"))
    shards = [run_sweep(make_cfg(*SWEEP, f"shard={i}/3", f"run_name=s{i}")) for i in range(3)]
    sizes = [json.loads((s / "manifest.json").read_text())["problems"] for s in shards]
    assert sizes == [4, 4, 3]
    into = tmp_path / "merged"
    result = bench("merge", *map(str, reversed(shards)), "--into", str(into))
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(records(into), records(whole))
    merged = json.loads((into / "manifest.json").read_text())
    unsharded = json.loads((whole / "manifest.json").read_text())
    assert merged["identity"] == unsharded["identity"]
    assert merged["data_sha256"] == unsharded["data_sha256"]
    assert merged["problems"] == 11 and merged["adherence"]["ok"]
    assert [m["shard"] for m in merged["merged_from"]] == ["0/3", "1/3", "2/3"]
    assert (into / "report" / "index.html").exists() and (into / "scaling.csv").exists()


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory):
    """Both shards of one small sweep, run once for the module."""
    root = tmp_path_factory.mktemp("shards")
    runs = []
    for i in range(2):
        cfg = compose_sweep(
            [
                *SWEEP,
                f"shard={i}/2",
                f"run_name=s{i}",
                f"results_dir={root}",
                "engine.show_progress=false",
            ]
        )
        runs.append(run_sweep(cfg))
    return runs


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["config"]["model"].update(name="qwen3-0.6b"), "differ in model.name"),
        (lambda m: m["config"]["suite"].update(limit=12), "differ in suite.limit"),
        (lambda m: m.update(suite_sha256="0" * 64), r"differ in data \(suite_sha256\)"),
        (
            lambda m: m["versions"].update({"math-verify": "0.1"}),
            r"differ in grader version \(math-verify\)",
        ),
        (lambda m: m.update(store_version=-1), "differ in store version"),
        (lambda m: m.update(status="running"), "is 'running', not complete"),
        (lambda m: m["config"].update(shard="0/2"), "are both shard 0/2"),
    ],
)
def test_merge_refuses_runs_that_are_not_shards_of_one_sweep(two_shards, tmp_path, edit, message):
    first, second = two_shards
    other = tmp_path / "other"
    shutil.copytree(second, other, symlinks=True)
    path = other / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=message):
        merge_runs([first, other], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()  # nothing half-written


def test_a_missing_shard_is_named(make_cfg, tmp_path):
    first = run_sweep(make_cfg(*SWEEP, "shard=0/3", "run_name=a"))
    third = run_sweep(make_cfg(*SWEEP, "shard=2/3", "run_name=c"))
    result = bench("merge", str(first), str(third), "--into", str(tmp_path / "m"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: shard(s) 1/3 missing; pass all 3 shard runs"


@pytest.mark.parametrize("value", ["3/2", "a/b", "1", "-1/2"])
def test_a_bad_shard_is_one_line(tmp_path, value):
    result = bench("sweep", "engine=fake", f"shard={value}", f"results_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: shard=") and "0 <= i < n" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_multirun_runs_each_model_in_its_own_process(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "sweep",
            "-m",
            "engine=fake",
            "model=smollm2-135m,qwen3-0.6b",
            "suite.limit=2",
            "engine.show_progress=false",
            f"results_dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    manifests = [
        json.loads(p.read_text())
        for p in tmp_path.glob("*/manifest.json")
        if not p.parent.is_symlink()  # results/latest
    ]
    assert sorted(m["config"]["model"]["name"] for m in manifests) == ["qwen3-0.6b", "smollm2-135m"]
    pids = {m["process"]["pid"] for m in manifests}
    assert len(pids) == 2 and process.pid not in pids
    assert {m["process"]["parent"] for m in manifests} == {process.pid}
    assert "[job 0]" in out and "[job 1]" in out


@pytest.mark.slow
def test_a_failing_job_fails_the_multirun(tmp_path):
    result = bench(
        "sweep",
        "-m",
        "engine=fake",
        "suite.limit=2,0",
        "engine.show_progress=false",
        f"results_dir={tmp_path}",
    )
    assert result.returncode == 2, result.stderr
    assert "suite.limit=0" in result.stderr and "[job 1] failed" in result.stderr


@pytest.mark.parametrize(
    "launcher, target",
    [
        ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        ("ray_cluster", "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"),
    ],
)
def test_cluster_launcher_configs_compose(launcher, target):
    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose(
            config_name="config",
            overrides=[f"hydra/launcher={launcher}"],
            return_hydra_config=True,
        )
    assert cfg.hydra.launcher._target_ == target
