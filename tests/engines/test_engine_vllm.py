"""The real engine: vLLM's CPU build with the embedded SmolLM2-135M.

Few and quick: one engine start for the module, a handful of problems, two
budgets. The fake engine carries the combinatorics elsewhere.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from bench.config.schema import ConfigError

vllm = pytest.importorskip("vllm", reason="vLLM (CPU build) is installed by make setup")


def test_gpu_engine_without_gpu_hints_at_cpu_engine(make_cfg):
    from vllm.platforms import current_platform

    if current_platform.is_cuda_alike():
        pytest.skip("this machine has a GPU")
    from bench.engines import make_engine

    cfg = make_cfg("engine=vllm")
    with pytest.raises(ConfigError, match="use engine=vllm_cpu"):
        make_engine(cfg.engine, cfg.model)


def test_local_engines_talk_over_loopback(make_cfg, monkeypatch):
    from bench.engines.serve import server_env
    from bench.engines.vllm import engine_environment

    cfg = make_cfg("engine=vllm_cpu")
    assert engine_environment(cfg.engine)["VLLM_HOST_IP"] == "127.0.0.1"
    monkeypatch.delenv("VLLM_HOST_IP", raising=False)
    assert server_env(cfg.engine)["VLLM_HOST_IP"] == "127.0.0.1"
    # A user's own address (a multi-node executor) is theirs to keep.
    monkeypatch.setenv("VLLM_HOST_IP", "192.0.2.7")
    assert "VLLM_HOST_IP" not in server_env(cfg.engine)
    cfg = make_cfg("engine=vllm_cpu", "+engine.env.VLLM_HOST_IP=127.0.0.2")
    assert server_env(cfg.engine)["VLLM_HOST_IP"] == "127.0.0.2"


def test_vllms_sockets_go_to_a_folder_of_ours_that_goes_when_the_process_does(
    make_cfg, monkeypatch, tmp_path
):
    """vLLM makes its IPC sockets in the temp folder and leaves them there
    (seven after one beam sweep, before): they go to a folder of the process's
    own, removed at its exit; a user's own VLLM_RPC_BASE_PATH is kept."""
    import subprocess
    import sys
    import tempfile

    from bench.engines.vllm import engine_environment

    cfg = make_cfg("engine=vllm_cpu")
    monkeypatch.delenv("VLLM_RPC_BASE_PATH", raising=False)
    folder = engine_environment(cfg.engine)["VLLM_RPC_BASE_PATH"]
    assert folder.startswith(tempfile.gettempdir()) and os.path.isdir(folder)
    assert engine_environment(cfg.engine)["VLLM_RPC_BASE_PATH"] == folder  # one per process
    monkeypatch.setenv("VLLM_RPC_BASE_PATH", str(tmp_path))
    assert "VLLM_RPC_BASE_PATH" not in engine_environment(cfg.engine)
    monkeypatch.delenv("VLLM_RPC_BASE_PATH")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "from bench.engines.vllm import rpc_folder; print(rpc_folder())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    made = done.stdout.strip()
    assert made.startswith(str(tmp_path)) and not os.path.exists(made)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.engine
def test_real_sweep_token_accounting(make_cfg):
    import os

    from bench.grading.sandbox.execute import isolation, run_tests
    from bench.sweep.runner import Sweep

    user_host_ip = os.environ.get("VLLM_HOST_IP")
    cfg = make_cfg("engine=vllm_cpu", "suite.limit=3", "budget.tokens=[16,96]", "run_name=real")
    run_dir = Sweep(cfg).run()
    # The engine's processes talked over loopback (vLLM's get_ip()).
    from vllm.utils.network_utils import get_ip

    assert get_ip() == (user_host_ip or "127.0.0.1")
    # vLLM's CPU build left its venv's libraries in our environment; code
    # verdicts after it are still right (the sandbox's view ignores them).
    if isolation() != "rlimits":
        check = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
        assert run_tests("def add(a, b):\n    return a + b\n", check, "add").status == "passed"
        assert run_tests("def add(a, b):\n    return a * b\n", check, "add").status == "failed"
    records = pd.read_parquet(run_dir / "records.parquet")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["engine"]["kind"] == "vllm" and manifest["engine"]["device"] == "cpu"
    assert manifest["adherence"]["ok"]
    # our prompt + thinking + answer counts equal vLLM's own count, record by record
    assert manifest["adherence"]["token_count_checked"] == len(records)
    assert manifest["adherence"]["token_count_mismatches"] == 0
    assert len(records) == 3 * 2  # levels 1, 2, 3; 2 budgets
    assert (records["thinking_tokens"] <= records["budget"]).all()
    cut = records[records["hit_budget"]]
    assert (cut["thinking_tokens"] == cut["budget"]).all()
    assert (records.loc[records["budget"] == 16, "hit_budget"]).all()  # nobody answers in 16 tokens
    assert (records["answer_tokens"] > 0).all() and records["correct"].notna().all()

    # Prompt tokens are the chat template's own token count.
    from transformers import AutoTokenizer

    from bench.engines import models
    from bench.tasks.loader import load_problems, load_spec

    tokenizer = AutoTokenizer.from_pretrained(models.prepare(cfg.model.source))
    spec = load_spec("arith")
    questions = {p.problem_id: p.question for p in load_problems(spec)}
    for _, row in records.drop_duplicates("problem_id").iterrows():
        content = spec.prompt.replace("{question}", questions[row["problem_id"]])
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        assert row["prompt_tokens"] == len(tokenizer.encode(text, add_special_tokens=False))

    # One chain serves both budgets: the 16-token thinking is the start of the 96-token one.
    for _, group in records.groupby("problem_id"):
        short = group[group["budget"] == 16].iloc[0]
        long = group[group["budget"] == 96].iloc[0]
        assert long["thinking_text"].startswith(short["thinking_text"])
        assert long["thinking_tokens"] >= short["thinking_tokens"]
        # the cut's thinking re-encodes to about as many tokens as the engine reported
        assert (
            abs(len(tokenizer.encode(short["thinking_text"], add_special_tokens=False)) - 16) <= 2
        )

    # A re-run finds everything stored and starts no engine.
    again = Sweep(
        make_cfg("engine=vllm_cpu", "suite.limit=3", "budget.tokens=[16,96]", "run_name=real")
    ).run()
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["engine_start_seconds"] is None
