"""engine=openai against a real `vllm serve` (the CPU build, the embedded
SmolLM2) on 127.0.0.1: token ids from the server, exact budget cuts, counts
equal to the server's own, and the native budget as an extra body field.

One server for the module (about a minute to start on 2 cores), a few
problems, two budgets.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import bench

pytest.importorskip("vllm", reason="vLLM (CPU build) is installed by make setup")
pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def server(tmp_path_factory):

    from bench.engines import models
    from bench.engines.serve import ServerProcess, free_port, serve_command, server_env
    from bench.sweep.compose import compose

    cfg = compose(["engine=vllm_cpu"])
    port = free_port()
    command = serve_command(
        cfg.engine, cfg.model, models.prepare(cfg.model.source), port, native_budget=True
    )
    log = tmp_path_factory.mktemp("serve") / "vllm-serve.log"
    process = ServerProcess(command, port, server_env(cfg.engine), log)
    try:
        process.wait_ready(timeout_s=600)
        yield process
    finally:
        process.stop()


def _check_tokens(run_dir, budgets):
    records = pd.read_parquet(run_dir / "records.parquet")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["engine"]["kind"] == "openai" and manifest["engine"]["version"] == "0.32.0"
    adherence = manifest["adherence"]
    assert adherence["ok"], adherence
    assert adherence["token_count_checked"] == len(records)
    assert adherence["token_count_mismatches"] == 0
    assert set(records["token_source"]) == {"server ids"}
    assert set(records["budget"]) == set(budgets) and len(records) == 3 * len(budgets)
    assert (records["thinking_tokens"] <= records["budget"]).all()
    cut = records[records["hit_budget"]]
    assert (cut["thinking_tokens"] == cut["budget"]).all()
    assert (records.loc[records["budget"] == budgets[0], "hit_budget"]).all()
    assert records["correct"].notna().all()
    return records, manifest


def test_bench_sweep_against_vllm_serve(server, tmp_path):
    result = bench(
        "sweep",
        "engine=openai",
        f"engine.base_url={server.url}",
        "engine.device=cpu",
        "engine.request_seeds=false",
        "suite.limit=3",
        "budget.tokens=[16,96]",
        "run_name=served",
        "engine.show_progress=false",
        f"results_dir={tmp_path}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records, manifest = _check_tokens(tmp_path / "served", [16, 96])
    assert manifest["engine_requests"]["failed"] == {}
    assert manifest["engine_requests"]["sent"] >= 3 + 3  # thinking + at least one answer each
    # Every answer request of a cut chain shares the thinking prefix: the
    # stored thinking at 16 tokens is the head of the thinking at 96.
    by = records.set_index(["problem_id", "budget"])["thinking_text"]
    for problem in records["problem_id"].unique():
        assert by[(problem, 96)].startswith(by[(problem, 16)])


def test_native_budget_through_the_server(server, make_cfg):
    from bench.sweep.runner import run_sweep

    cfg = make_cfg(
        "engine=openai",
        f"engine.base_url={server.url}",
        "engine.device=cpu",
        "engine.request_seeds=false",
        "strategy=native",
        "suite.limit=3",
        "budget.tokens=[16,32]",
        "run_name=native",
    )
    records, manifest = _check_tokens(run_sweep(cfg), [16, 32])
    assert manifest["engine"]["budget_knob"].startswith("thinking_token_budget")
    assert records["hit_budget"].all()  # SmolLM2 does not finish within 32 tokens
