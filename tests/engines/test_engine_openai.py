"""engine=openai against a local scripted server: the same records as the
engine it wraps, retries on every kind of misbehaviour, failures reported and
retried by a re-run, never lost or duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import bench
from scripted_server import ScriptedServer

from bench.engines.http import RetryPolicy
from bench.errors import AdherenceError, RequestsFailedError
from bench.sweep.runner import run_sweep

# Columns that say how a record was produced rather than what it holds.
HOW = ["key", "seconds", "token_source"]
FAST_RETRIES = ["engine.backoff_s=0.01", "engine.backoff_max_s=0.05"]


def records(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "records.parquet")
    frame = frame.drop(columns=[c for c in HOW if c in frame])
    return frame.sort_values(["problem_id", "sample", "budget"]).reset_index(drop=True)


def served(make_cfg, url: str, *overrides: str):
    return make_cfg(
        "engine=openai",
        f"engine.base_url={url}",
        "engine.tokenizer=bytes",
        "suite=arith",
        *overrides,
    )


@pytest.fixture
def reference(make_cfg):
    """The same sweep on the fake engine directly."""

    def _run(*overrides: str) -> pd.DataFrame:
        run = run_sweep(make_cfg("engine=fake", "suite=arith", "run_name=direct", *overrides))
        return records(run)

    return _run


def test_served_sweep_equals_the_direct_engine(make_cfg, reference, monkeypatch):
    secret = "sk-test-never-stored-4f2a"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with ScriptedServer() as server:
        run = run_sweep(served(make_cfg, server.url, "suite.limit=12", "run_name=served"))
    assert server.authorization == {f"Bearer {secret}"}
    for path in run.rglob("*"):  # the key reached the server and nothing else
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    manifest = json.loads((run / "manifest.json").read_text())
    stored = pd.read_parquet(run / "records.parquet")
    assert set(stored["token_source"]) == {"server ids"}
    assert manifest["status"] == "complete" and manifest["adherence"]["ok"]
    assert manifest["adherence"]["token_count_mismatches"] == 0
    assert manifest["engine"]["version"] == "scripted-1"
    assert (
        manifest["engine_requests"]["retries"] == {} and manifest["engine_requests"]["failed"] == {}
    )
    pd.testing.assert_frame_equal(records(run), reference("suite.limit=12"))
    assert max(server.answered.values()) == 1  # nothing was asked twice


def test_a_server_without_token_ids_is_counted_by_local_encoding(make_cfg, reference):
    with ScriptedServer(token_ids=False) as server:
        run = run_sweep(served(make_cfg, server.url, "suite.limit=8", "run_name=noids"))
    stored = pd.read_parquet(run / "records.parquet")
    assert set(stored["token_source"]) == {"local encoding"}
    sources = json.loads((run / "manifest.json").read_text())["engine_requests"]["token_sources"]
    assert set(sources) == {"local encoding"}
    # bytes re-encode exactly, so the records are the direct engine's
    pd.testing.assert_frame_equal(records(run), reference("suite.limit=8"))


def test_misbehaving_server_is_retried_until_every_record_is_right(make_cfg, reference):
    def faults(number, tries, body):
        if tries == 1 and number % 2 == 0:
            return 429  # every other request is throttled once
        if tries == 1 and number % 5 == 0:
            return 500
        if tries <= 2 and number % 7 == 0:
            return 503
        if tries == 1 and number % 11 == 0:
            return "malformed"
        if tries == 1 and number % 13 == 0:
            return "choices"
        if tries == 1 and number % 17 == 0:
            return "slow"
        return None

    with ScriptedServer(faults, slow_s=1.5) as server:
        cfg = served(
            make_cfg,
            server.url,
            "suite.limit=20",
            "run_name=flaky",
            "engine.request_timeout_s=0.5",
            *FAST_RETRIES,
        )
        run = run_sweep(cfg)
    report = json.loads((run / "manifest.json").read_text())["engine_requests"]
    for reason in ("HTTP 429", "HTTP 500", "HTTP 503", "malformed JSON", "malformed response"):
        assert report["retries"].get(reason, 0) >= 1, (reason, report)
    assert report["retries"].get("timeout", 0) >= 1, report
    assert report["failed"] == {}
    stored = pd.read_parquet(run / "records.parquet")
    assert stored["key"].is_unique
    pd.testing.assert_frame_equal(records(run), reference("suite.limit=20"))


def test_requests_that_keep_failing_are_reported_and_a_rerun_completes(make_cfg, reference):
    broken = {"on": True}

    def faults(number, tries, body):
        # Problems whose prompt has an odd length fail every time while broken.
        return 500 if broken["on"] and len(body["prompt"]) % 2 else None

    with ScriptedServer(faults) as server:
        cfg = served(make_cfg, server.url, "suite.limit=16", "run_name=partial", *FAST_RETRIES)
        cfg.engine.max_retries = 2
        with pytest.raises(RequestsFailedError, match=r"failed after 2 retries \(HTTP 500 x\d+\)"):
            run_sweep(cfg)
        run = Path(cfg.results_dir) / "partial"
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "incomplete"
        assert manifest["engine_requests"]["failed"]["HTTP 500"] >= 1
        kept = pd.read_parquet(run / "records.parquet")
        assert 0 < kept["problem_id"].nunique() < 16  # the healthy problems are stored
        broken["on"] = False
        run_sweep(cfg)  # the same command again: only the missing problems are asked
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    pd.testing.assert_frame_equal(records(run), reference("suite.limit=16"))


def test_a_rejected_request_stops_the_sweep_in_one_line(tmp_path):
    with ScriptedServer(lambda number, tries, body: 401) as server:
        result = bench(
            "sweep",
            "engine=openai",
            f"engine.base_url={server.url}",
            "engine.tokenizer=bytes",
            "suite.limit=3",
            "engine.show_progress=false",
            f"results_dir={tmp_path}",
        )
    assert result.returncode == 5, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rejected a request: HTTP 401" in lines[0], result.stderr
    assert "(engine log: " in lines[0]  # the one line points at the engine's own log
    assert max(server.tries.values()) == 1  # never retried: it would fail the same way


def test_an_unreachable_server_is_one_config_error(make_cfg):
    from bench.config.schema import ConfigError

    cfg = served(make_cfg, "http://127.0.0.1:9/v1", "suite.limit=2")
    with pytest.raises(ConfigError, match="cannot reach the server at http://127.0.0.1:9/v1"):
        run_sweep(cfg)


def test_native_budget_goes_as_an_extra_body_field(make_cfg):
    forced = "\nFinal answer:"
    with ScriptedServer(forced_answer=forced) as server:
        cfg = served(
            make_cfg,
            server.url,
            "suite.limit=6",
            "strategy=native",
            "run_name=native",
            f"model.forced_answer='{forced}'",
        )
        run = run_sweep(cfg)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["adherence"]["ok"] and manifest["adherence"]["over_budget"] == 0
    assert manifest["engine"]["budget_knob"].startswith("thinking_token_budget")
    assert (pd.read_parquet(run / "records.parquet")["finish"] == "cut").any()


def test_a_server_that_ignores_the_budget_fails_adherence_loudly(make_cfg):
    forced = "\nFinal answer:"
    with ScriptedServer(forced_answer=forced, ignore_budget=True) as server:
        cfg = served(
            make_cfg,
            server.url,
            "suite.limit=6",
            "strategy=native",
            f"model.forced_answer='{forced}'",
        )
        with pytest.raises(AdherenceError, match="think past their budget.*may ignore thinking"):
            run_sweep(cfg)


def test_replicas_keep_each_problem_on_one_server(make_cfg, reference):
    from bench.engines.fake import ByteTokenizer

    with ScriptedServer() as a, ScriptedServer() as b:
        cfg = served(make_cfg, a.url, "suite.limit=12", "run_name=fleet")
        cfg.engine.base_urls = [a.url, b.url]
        run = run_sweep(cfg)
    decode = ByteTokenizer().decode

    def questions(server: ScriptedServer) -> set[str]:
        return {decode(p).split("<|end|>")[0] for p in server.prompts}

    assert questions(a) and questions(b) and not questions(a) & questions(b)
    pd.testing.assert_frame_equal(records(run), reference("suite.limit=12"))


def test_backoff_doubles_and_honours_retry_after():
    policy = RetryPolicy(max_retries=5, backoff_s=1.0, backoff_max_s=8.0, timeout_s=1.0)
    assert 0.5 <= policy.delay(0) <= 1.0
    assert 2.0 <= policy.delay(2) <= 4.0
    assert 4.0 <= policy.delay(6) <= 8.0  # capped
    assert policy.delay(0, retry_after=5.0) == 5.0
    assert policy.delay(0, retry_after=100.0) == 8.0


# Chat APIs (engine=openai_chat, strategy=api): reasoning text and usage counts.
FORCED = "\nFinal answer:"  # the default model's forced answer


def chat(make_cfg, url: str, *overrides: str):
    return make_cfg(
        "engine=openai_chat",
        "strategy=api",
        f"engine.base_url={url}",
        "engine.tokenizer=bytes",
        "suite=arith",
        "suite.limit=6",
        "budget.tokens=[16,64]",
        *overrides,
    )


def test_chat_reasoning_and_usage_counts_with_the_native_knob(make_cfg):
    with ScriptedServer(forced_answer=FORCED) as server:
        cfg = chat(make_cfg, server.url, "model.budget_knob=thinking_token_budget", "run_name=c")
        run = run_sweep(cfg)
    stored = pd.read_parquet(run / "records.parquet")
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(stored) == 6 * 2 and set(stored["token_source"]) == {"usage"}
    assert {b["thinking_token_budget"] for b in server.chat_bodies} == {16, 64}
    assert all(b["n"] == 1 and "messages" in b for b in server.chat_bodies)
    assert manifest["adherence"]["ok"] and manifest["adherence"]["advisory"]
    assert manifest["engine"]["budget_knob"] == "thinking_token_budget"
    assert (stored["thinking_tokens"] <= stored["budget"]).all()
    assert (stored["thinking_tokens"] == stored["thinking_text"].str.len()).all()  # bytes
    assert stored["answer_text"].str.startswith("Final answer:").all()
    assert (stored["prompt_tokens"] > 0).all() and stored["correct"].notna().all()


def test_chat_older_reasoning_content_counted_locally_when_usage_lacks_it(make_cfg):
    with ScriptedServer(
        forced_answer=FORCED, reasoning_field="reasoning_content", report_reasoning_tokens=False
    ) as server:
        cfg = chat(make_cfg, server.url, "model.budget_knob=thinking_token_budget", "run_name=c")
        run = run_sweep(cfg)
    stored = pd.read_parquet(run / "records.parquet")
    assert set(stored["token_source"]) == {"local encoding"}
    assert (stored["thinking_text"].str.len() > 0).all()
    assert (stored["thinking_tokens"] == stored["thinking_text"].str.len()).all()


def test_chat_reasoning_effort_levels_follow_the_budgets(make_cfg):
    with ScriptedServer(forced_answer=FORCED) as server:
        cfg = chat(
            make_cfg,
            server.url,
            "model.budget_knob=reasoning_effort",
            "model.reasoning_effort=[low,medium]",
            "run_name=effort",
        )
        run = run_sweep(cfg)
    sent = {(b["max_tokens"], b["reasoning_effort"]) for b in server.chat_bodies}
    assert {effort for _, effort in sent} == {"low", "medium"}
    stored = pd.read_parquet(run / "records.parquet")
    mean = stored.groupby("budget")["thinking_tokens"].mean()
    assert mean[16] < mean[64]  # more effort, more thinking


def test_chat_server_that_overthinks_is_a_loud_warning(make_cfg, capsys):
    with ScriptedServer(forced_answer=FORCED, ignore_budget=True) as server:
        cfg = chat(make_cfg, server.url, "model.budget_knob=thinking_token_budget", "run_name=o")
        run = run_sweep(cfg)  # stored and reported, not failed: the knob is advisory
    assert "WARNING: the server did not keep to the budgets (thinking_token_budget)" in (
        capsys.readouterr().out
    )
    adherence = json.loads((run / "manifest.json").read_text())["adherence"]
    assert not adherence["ok"] and adherence["over_budget"] > 0
