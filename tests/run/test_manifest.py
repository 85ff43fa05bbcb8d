"""The typed manifest (bench/run/manifest.py): what a sweep writes reads back
by name, and a hand-edited manifest with a value of the wrong type reads as
absent instead of breaking the command that reads it."""

from __future__ import annotations

import json

import pytest
from helpers import bench

from bench.run.manifest import Manifest, RunConfig
from bench.run.store import read_manifest

CONFIG = {
    "model": {"name": "m", "source": "hf:org/m", "parameters": 135_000_000, "step_delimiter": ","},
    "suite": {"name": "chain"},
    "strategy": {"name": "bon", "n": 4, "subset_draws": 200},
    "budget": {"tokens": [0, 16, 64]},
    "engine": {"device": "cuda", "tensor_parallel_size": 2},
    "verifier": {"parameters": 7_000_000},
    "pricing": {"device_hours": {"cpu": 0.1}},
    "repeats": 2,
    "shard": "1/4",
    "grading_timeout_s": 7.5,
}
RAW = {
    "status": "complete", "identity": "abc", "store_version": 3, "problems": 10,
    "records": 240, "created": "2026-12-01T10:00:00+00:00", "git_revision": "f00",
    "data_sha256": "d", "suite_sha256": "s", "wall_seconds": 12.5,
    "engine": {"kind": "vllm", "device": "cpu"}, "engine_work": {"seconds": 3.0},
    "adherence": {"ok": True}, "versions": {"vllm": "0.1"}, "config": CONFIG,
}  # fmt: skip


def test_every_field_reads_by_name():
    m = Manifest.of(RAW)
    assert (m.status, m.complete, m.identity, m.store_version) == ("complete", True, "abc", 3)
    assert (m.problems, m.records, m.created, m.git_revision) == (10, 240, RAW["created"], "f00")
    assert (m.data_sha256, m.suite_sha256, m.wall_seconds) == ("d", "s", 12.5)
    assert m.engine["kind"] == "vllm" and m.engine_work == {"seconds": 3.0}
    assert m.adherence == {"ok": True} and m.versions == {"vllm": "0.1"}
    c = m.config
    assert (c.model_name, c.model_source, c.model_parameters) == ("m", "hf:org/m", 135_000_000)
    assert (c.step_delimiter, c.verifier_parameters) == (",", 7_000_000)
    assert (c.suite_name, c.strategy_name, c.samples, c.subset_draws) == ("chain", "bon", 4, 200)
    assert (c.budgets, c.repeats, c.shard, c.grading_timeout_s) == ([0, 16, 64], 2, "1/4", 7.5)
    assert (c.engine_device, c.devices) == ("cuda", 2)
    assert c.pricing == {"device_hours": {"cpu": 0.1}}
    assert c.section("budget") == {"tokens": [0, 16, 64]} and c.section("absent") == {}
    assert m.raw is RAW  # written back whole, unread keys included


def test_an_empty_or_missing_manifest_reads_as_defaults():
    for raw in (None, {}, [], "text"):
        m = Manifest.of(raw)
        assert m.raw == {} and m.status is None and not m.complete
        assert m.config == RunConfig() and m.config.budgets == [] and m.config.samples == 1
        assert m.config.repeats == 1 and m.config.subset_draws == 1000 and m.config.devices == 1
        assert m.engine == {} and m.engine_work == {} and m.wall_seconds == 0.0
    m = Manifest.of(RAW)
    assert Manifest.of(m) is m


@pytest.mark.parametrize(
    "edit, field, expected",
    [
        ({"status": 1}, lambda m: m.status, None),
        ({"problems": "10"}, lambda m: m.problems, None),
        ({"problems": True}, lambda m: m.problems, None),  # JSON true is not a count
        ({"records": 2.5}, lambda m: m.records, None),
        ({"engine": "vllm"}, lambda m: m.engine, {}),
        ({"engine_work": [1, 2]}, lambda m: m.engine_work, {}),
        ({"wall_seconds": "long"}, lambda m: m.wall_seconds, 0.0),
        ({"git_revision": None, "git": "old"}, lambda m: m.git_revision, "old"),  # early key
        ({"config": "x"}, lambda m: m.config.raw, {}),
        ({"config": {"model": "m"}}, lambda m: m.config.model_name, None),
        ({"config": {"model": {"name": 3}}}, lambda m: m.config.model_name, None),
        ({"config": {"strategy": {"n": "8"}}}, lambda m: m.config.samples, 1),
        ({"config": {"strategy": {"n": None, "samples": 3}}}, lambda m: m.config.samples, 3),
        ({"config": {"strategy": {"n": False}}}, lambda m: m.config.samples, 1),
        ({"config": {"budget": {"tokens": "0,16"}}}, lambda m: m.config.budgets, []),
        ({"config": {"budget": {"tokens": [0, "16", True, 64]}}}, lambda m: m.config.budgets, [0, 64]),
        ({"config": {"budget": [0, 16]}}, lambda m: m.config.budgets, []),
        ({"config": {"repeats": 0}}, lambda m: m.config.repeats, 1),
        ({"config": {"shard": 2}}, lambda m: m.config.shard, None),
        ({"config": {"pricing": "default"}}, lambda m: m.config.pricing, {}),
        ({"config": {"engine": {"tensor_parallel_size": "2"}}}, lambda m: m.config.devices, 1),
        ({"config": {"grading_timeout_s": "5"}}, lambda m: m.config.grading_timeout_s, None),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_reads_as_absent(edit, field, expected):
    assert field(Manifest.of({**RAW, **edit})) == expected


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    results = tmp_path_factory.mktemp("manifest")
    result = bench(
        "sweep", "engine=fake", "suite.limit=3", "budget.tokens=[0,8,64]", "strategy=bon",
        "strategy.n=2", "report=false", "plots=false", "engine.show_progress=false",
        f"results_dir={results}", "run_name=typed",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return results / "typed"


def test_what_a_sweep_writes_reads_back_typed(run_dir):
    m = Manifest.of(read_manifest(run_dir))
    assert m.complete and m.identity and m.store_version and m.created and m.suite_sha256
    assert (m.problems, m.records) == (3, 3 * 3 * 2)
    c = m.config
    assert (c.suite_name, c.strategy_name, c.budgets, c.samples) == ("arith", "bon", [0, 8, 64], 2)
    assert c.model_name and c.repeats == 1 and c.pricing and c.shard is None
    assert m.engine["kind"] == "fake" and m.engine_work and m.versions
    # Every key the typed view reads is one the sweep wrote with that type:
    # a renamed key would read as None here.
    assert None not in (m.status, m.identity, m.problems, m.records, m.data_sha256)


def test_commands_read_a_hand_edited_manifest_without_tracebacks(run_dir, tmp_path):
    """Sections of the wrong type (a string where an object belongs) no longer
    reach a `.get` of a string: the listing and the report say what they can."""
    raw = json.loads((run_dir / "manifest.json").read_text())
    raw["config"] |= {"model": "oops", "strategy": ["bon"], "budget": {"tokens": "all"}}
    raw["engine"] = "fake"
    raw["problems"] = "three"
    edited = tmp_path / "edited"
    edited.mkdir()
    for part in ("generations", "grades"):
        if (run_dir / part).is_dir():
            (edited / part).symlink_to(run_dir / part)
    (edited / "manifest.json").write_text(json.dumps(raw))
    listing = bench("runs", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    assert "edited" in listing.stdout and "Traceback" not in listing.stderr
    report = bench("report", str(edited))
    assert report.returncode == 0, report.stderr
    assert (edited / "report" / "index.html").is_file()
