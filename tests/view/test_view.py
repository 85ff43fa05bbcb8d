"""`bench view`: the problem list and one problem's page read from run
folders as they are (by hand-built runs whose verdicts, cuts and flips are
known), the server's boundaries (loopback, nothing but its routes, one-line
errors), and the static export's files. tests/view/test_view_browser.py drives a
real browser against both."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from view_runs import CHAIN, _known_run, _questions, attempt, grade, write_run

from bench.errors import UsageError
from bench.run.store import RunStore, write_json_atomic
from bench.view.data import RunView
from bench.view.export import export, problem_file
from bench.view.pages import problem_list, problem_page, verdict_reason
from bench.view.server import make_server


@pytest.fixture
def known(tmp_path):
    return RunView(_known_run(tmp_path / "known"))


def test_the_problem_list_by_hand(known):
    rows = {r["id"]: r for r in problem_list(known)}
    assert set(rows) == {"chain-k04-0000", "chain-k02-0001", "chain-k03-0002"}
    a, b = rows["chain-k04-0000"], rows["chain-k02-0001"]
    assert [a["budgets"][k]["right"] for k in ("8", "32", "128")] == [0.0, 1.0, 1.0]
    assert a["budgets"]["8"]["cut"] == 1.0 and a["budgets"]["32"]["cut"] == 0.0
    assert a["flips"] == {"up": 1, "down": 0} and a["first_stable"] == 32
    assert b["flips"] == {"up": 0, "down": 1} and b["first_stable"] is None
    assert b["budgets"]["128"]["status"] == ["no answer"]
    assert b["budgets"]["32"]["status"] == []  # a wrong answer is a verdict, not a status
    # The chain suite's own question, loaded as the sweep loaded it.
    assert a["question"] == _questions()["chain-k04-0000"] and a["question"].endswith("=?")
    assert b["difficulty"] == "2" and b["gold"] == "13"


def test_one_problem_shows_its_chain_once_with_each_budgets_cut(known):
    page = problem_page(known, "chain-k04-0000")
    (chain,) = page["chains"]
    assert chain["thinking"] == CHAIN
    assert chain["cuts"] == [{"budget": 8, "at": 8}]  # only where a budget cut it
    outcomes = {o["budget"]: o for o in chain["budgets"]}
    assert outcomes[8]["cut"] and outcomes[8]["answer"] == "9" and outcomes[8]["correct"] is False
    assert "cut at the budget" in outcomes[8]["reason"]
    assert outcomes[128]["answer_text"] == "</think>13" and outcomes[128]["correct"] is True
    assert problem_page(known, "no-such-problem") is None


def test_chains_that_do_not_nest_are_shown_per_budget(tmp_path):
    rows = [
        attempt("p", 8, "1,+1=2", "</think>2", strategy="beam", cut=True),
        attempt("p", 128, "1,+2=3,+1=4", "</think>4", strategy="beam"),
    ]
    run = RunView(write_run(tmp_path / "beam", rows, [grade(rows[0], "2", False)]))
    (chain,) = problem_page(run, "p")["chains"]
    assert chain["thinking"] is None and chain["cuts"] == []
    assert [o["thinking"] for o in chain["budgets"]] == ["1,+1=2", "1,+2=3,+1=4"]
    assert chain["budgets"][1]["reason"] == "not graded yet"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"correct": None}, "not graded yet"),
        ({"correct": False, "answer": None}, "no answer could be extracted"),
        ({"correct": False, "answer": "  "}, "no answer could be extracted"),
        ({"correct": True, "answer": "13", "gold": "13"}, "is the gold answer as written"),
        ({"correct": True, "answer": "13.0", "gold": "13"}, "by the math grader's rules"),
        ({"correct": False, "answer": "12", "gold": "13"}, "differs from the gold answer"),
        ({"correct": True, "status": "passed", "grader": "code"}, "passes its tests"),
        ({"correct": False, "status": "timeout", "grader": "code"}, "does not pass: timeout"),
        ({"correct": False, "answer": "9", "hit_budget": True}, "answer forced"),
    ],
)
def test_the_rule_behind_each_verdict(row, expected):
    base = {"grader": "math", "gold": "13", "hit_budget": False, "status": None, "answer": "13"}
    assert expected in verdict_reason(pd.Series({**base, **row}))


def test_the_view_follows_a_run_while_it_is_written(tmp_path):
    folder = tmp_path / "live"
    first = attempt("p1", 8, "1", "</think>1")
    write_run(folder, [first], [], status="running")
    run = RunView(folder)
    assert [r["id"] for r in problem_list(run)] == ["p1"]
    assert problem_list(run)[0]["budgets"]["8"]["right"] is None  # stored, not graded yet
    store = RunStore(folder)
    second = attempt("p2", 8, "2", "</think>2")
    store.append_generations([second])
    store.append_grades([grade(first, "1", True)])
    rows = {r["id"]: r for r in problem_list(run)}
    assert set(rows) == {"p1", "p2"} and rows["p1"]["budgets"]["8"]["right"] == 1.0
    assert run.describe()["scaling"] == [
        {"strategy": "single", "budget": 8, "accuracy": 1.0, "n": 1}
    ]  # from the verdicts so far: the sweep has not written scaling.csv


def test_an_empty_run_and_a_damaged_part(tmp_path):
    folder = tmp_path / "fresh"
    RunStore(folder)
    write_json_atomic({"status": "running", "config": {}}, folder / "manifest.json")
    run = RunView(folder)
    assert problem_list(run) == [] and run.describe()["scaling"] == []
    assert run.describe()["attempts"] == 0
    _known_run(folder)  # three parts, one problem each
    parts = sorted((folder / "generations").glob("part-*.parquet"))
    parts[1].write_bytes(b"PAR1 cut off")
    (folder / "grades" / "part-99999.parquet").write_bytes(b"")
    run = RunView(folder)
    rows = problem_list(run)
    assert len(rows) == 2  # the readable two; the damaged one is named, not fatal
    damaged = run.describe()["damaged"]
    assert set(damaged) == {f"generations/{parts[1].name}", "grades/part-99999.parquet"}
    assert all(damaged.values())
    assert problem_page(run, rows[0]["id"])["chains"]


def test_a_damaged_manifest_or_scaling_table_still_shows_the_attempts(tmp_path):
    folder = _known_run(tmp_path / "run")
    (folder / "scaling.csv").write_text('budget,accuracy\n8,"0.5\n')  # cut off mid-row
    assert [r["budget"] for r in RunView(folder).describe()["scaling"]] == [8, 32, 128]
    (folder / "manifest.json").write_text('{"status": "compl')
    run = RunView(folder)
    described = run.describe()
    assert described["attempts"] == 9 and "manifest.json" in described["damaged"]
    assert len(problem_list(run)) == 3


def test_a_problem_reads_only_the_parts_that_hold_it(known, monkeypatch):
    import pyarrow.parquet as pq

    known.index()
    read = []
    real = pq.read_table

    def spy(path, *args, **kwargs):
        read.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    problem_page(known, "chain-k02-0001")
    generation_parts = [p for p in read if p.parent.name == "generations"]
    assert len(generation_parts) == 1  # 3 parts, one problem each


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: tmp / "missing",
        lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",
        lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt",
    ],
    ids=["missing", "not a run", "a file"],
)
def test_a_folder_that_is_not_a_run_is_one_line(tmp_path, make):
    with pytest.raises(UsageError) as caught:
        RunView(make(tmp_path))
    assert "\n" not in str(caught.value) and "run folder" in str(caught.value)


def test_cli_names_what_is_wrong(tmp_path, capsys):
    from bench.cli.main import main

    assert main(["view", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a run folder" in err


# -- the server ----------------------------------------------------------------


@pytest.fixture
def served(known, tmp_path):
    other = RunView(_known_run(tmp_path / "other", right_at_32=False))
    server = make_server([known, other], "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_the_server_binds_loopback_and_answers_its_routes(served):
    assert served.startswith("http://127.0.0.1:")
    status, headers, body = _get(served + "/api/runs")
    assert status == 200 and [r["name"] for r in json.loads(body)] == ["known", "other"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, body = _get(served + "/api/problem?run=1&id=chain-k04-0000")
    assert status == 200 and json.loads(body)["chains"][0]["cuts"][0]["budget"] == 8
    status, headers, body = _get(served + "/")
    assert status == 200 and b"app.js" in body and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/known/manifest.json",
        "/static/../data.py",
        "/api/problems?run=2",
        "/api/problems?run=-1",
        "/api/problems?run=../x",
        "/api/problem?run=0&id=nope",
        "/api/nothing",
    ],
)
def test_the_server_serves_nothing_else(served, path):
    status, _, body = _get(served + path)
    assert status == 404
    assert b"passwd" not in body and b"root:" not in body


@pytest.mark.parametrize(
    ("host", "port"), [("127.0.0.1", -1), ("127.0.0.1", 70000), ("192.0.2.1", 0)]
)
def test_a_place_that_cannot_be_listened_on_is_one_line(known, host, port):
    with pytest.raises(UsageError) as caught:
        make_server([known], host, port)
    assert "\n" not in str(caught.value) and (
        "port" in str(caught.value) or host in str(caught.value)
    )


def test_a_port_in_use_is_one_line(known):
    first = make_server([known], "127.0.0.1", 0)
    try:
        with pytest.raises(UsageError) as caught:
            make_server([known], "127.0.0.1", first.server_address[1])
        assert "is in use" in str(caught.value) and "--port" in str(caught.value)
    finally:
        first.server_close()


# -- the static export ---------------------------------------------------------


def test_the_export_writes_every_problem_as_a_script(known, tmp_path):
    out = tmp_path / "site"
    index = export([known], out, progress=False)
    assert index == out / "index.html"
    assert 'content="static"' in index.read_text()
    for pid in ("chain-k04-0000", "chain-k02-0001", "chain-k03-0002"):
        text = (out / "data" / "p" / "0" / problem_file(pid)).read_text()
        assert text.startswith('TB.put("problem/0/') and text.endswith(");\n")
        payload = json.loads(text[text.index(", ") + 2 : -3])
        assert payload["id"] == pid
    hostile = (out / "data" / "p" / "0" / problem_file("chain-k03-0002")).read_text()
    assert "</script>" in hostile or "<\\/script>" in hostile  # data, in a file of its own
    again = export([known], out, progress=False)  # an earlier export is replaced
    assert again.is_file()


def test_the_export_will_not_write_into_a_folder_of_other_files(known, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(UsageError, match="holds other files"):
        export([known], tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def test_problem_files_are_safe_names_for_any_id():
    names = {problem_file(pid) for pid in ("a/b", "../x", "a b", "é", "a" * 500, "")}
    assert len(names) == 6
    assert all(n.endswith(".js") and "/" not in n and len(n) == 23 for n in names)
