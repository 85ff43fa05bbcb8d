"""The loaders of the reasoning-era sets on fixtures in their own formats:
LiveCodeBench's release files (fields mapped, versions, the contest-date
window, private tests read without ever unpickling anything but a string)
and GPQA's CSV (options shuffled reproducibly, the right letter uniform)."""

from __future__ import annotations

import base64
import collections
import json
import os
import pickle
import zlib
from pathlib import Path

import pandas as pd
import pytest
from helpers import bench

from bench.config.schema import ConfigError, SuiteConfig
from bench.sweep.prompts import load_suite
from bench.tasks import gpqa, livecodebench, loader

# ---- LiveCodeBench -----------------------------------------------------------------


def lcb_row(qid: str, day: str, private, *, fn: str | None = None, **extra) -> dict:
    """A row of code_generation_lite, as the release files hold it."""
    kind = "functional" if fn else "stdin"
    public = [{"input": "1 2\n" if not fn else "[1, 2]", "output": "3\n", "testtype": kind}]
    row = {
        "question_title": f"Title {qid}",
        "question_content": f"Content of {qid}.",
        "platform": "leetcode" if fn else "atcoder",
        "question_id": qid,
        "contest_id": f"abc{qid}",
        "contest_date": day,
        "starter_code": f"class Solution:\n    def {fn}(self, nums):\n        " if fn else "",
        "difficulty": "medium",
        "public_test_cases": json.dumps(public),
        "private_test_cases": private,
        "metadata": json.dumps({"func_name": fn} if fn else {}),
    }
    row.update(extra)
    return row


PRIVATE = [{"input": "5 5\n", "output": "10\n", "testtype": "stdin"}]


def encoded(value) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(value))).decode()


class Planted:
    """A pickle that runs a command when unpickled by pickle.loads."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_release(folder: Path, files: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def lcb_spec(**source) -> loader.TaskSpec:
    spec = loader.load_spec("livecodebench")
    for key, value in source.items():
        setattr(spec.source, key, value)
    return spec


def test_release_rows_map_onto_problems(tmp_path):
    rows = [
        lcb_row("p1", "2024-08-03T00:00:00", encoded(json.dumps(PRIVATE))),
        lcb_row("p2", "2024-09-10T00:00:00", json.dumps(PRIVATE), fn="twoSum"),
    ]
    rows[1]["public_test_cases"] = json.dumps(
        [{"input": "[1, 2]\n3", "output": "[0, 1]", "testtype": "functional"}]
    )
    rows[1]["private_test_cases"] = json.dumps(
        [{"input": "[2, 1]\n3", "output": "[0, 1]", "testtype": "functional"}]
    )
    path = write_release(tmp_path / "lcb", {"test.jsonl": rows})
    problems = loader.load_problems(lcb_spec(), str(path))
    assert [p.problem_id for p in problems] == ["p1", "p2"]
    first, second = problems
    assert first.task == "livecodebench" and first.difficulty == "medium"
    assert first.subject == "atcoder" and first.meta["contest_date"] == "2024-08-03"
    assert first.meta["title"] == "Title p1"
    assert "Content of p1." in first.question and "Read the inputs from stdin" in first.question
    gold = json.loads(first.gold)
    assert gold["fn_name"] is None
    assert [t["input"] for t in gold["tests"]] == ["1 2\n", "5 5\n"]  # public, then private
    assert "def twoSum(self, nums)" in second.question  # the starter code is the format
    assert json.loads(second.gold)["fn_name"] == "twoSum"


def test_versions_name_the_release_files(tmp_path):
    folder = write_release(
        tmp_path / "lcb",
        {
            f"test{n if n > 1 else ''}.jsonl": [lcb_row(f"v{n}", "2024-01-01", "[]")]
            for n in (1, 2, 3)
        },
    )
    ids = lambda version: [  # noqa: E731
        p.problem_id
        for p in loader.load_problems(
            lcb_spec(), str(folder), selection=loader.Selection(version=version)
        )
    ]
    assert ids(None) == ["v1", "v2", "v3"]  # release_latest
    assert ids("release_v2") == ["v1", "v2"]
    assert ids("v2") == ["v2"]
    assert ids("v2_v3") == ["v2", "v3"]
    for bad, words in (("release_v4", "test4.jsonl"), ("latest", "not a release")):
        with pytest.raises(loader.TaskError, match=words):
            ids(bad)


@pytest.mark.parametrize(
    ("after", "before", "expected"),
    [
        (None, None, ["a", "b", "c", "d"]),
        ("2024-08-01", None, ["b", "c", "d"]),  # after is inclusive
        (None, "2025-02-01", ["a", "b", "c"]),  # before is exclusive
        ("2024-08-01", "2025-02-01", ["b", "c"]),
        ("2024-08-02", "2025-01-31", ["c"]),
    ],
)
def test_the_contest_date_window(tmp_path, after, before, expected):
    days = {
        "a": "2024-07-31T23:59:59",
        "b": "2024-08-01T00:00:00",
        "c": "2024-12-31",
        "d": "2025-02-01",
    }
    path = write_release(
        tmp_path / "lcb", {"test.jsonl": [lcb_row(q, d, "[]") for q, d in days.items()]}
    )
    chosen = loader.load_problems(
        lcb_spec(), str(path), selection=loader.Selection(after=after, before=before)
    )
    assert [p.problem_id for p in chosen] == expected


def test_a_planted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    rows = [lcb_row("evil", "2024-09-01", encoded(Planted(marker)))]
    path = write_release(tmp_path / "lcb", {"test.jsonl": rows})
    with pytest.raises(loader.TaskError) as caught:
        loader.load_problems(lcb_spec(), str(path))
    message = str(caught.value)
    assert "refused" in message and "posix.system" in message and "evil" in message
    assert "\n" not in message
    assert not marker.exists()
    # pickle.loads would have run it: the fixture is a real attack
    pickle.loads(zlib.decompress(base64.b64decode(rows[0]["private_test_cases"])))
    assert marker.exists()


@pytest.mark.parametrize(
    ("private", "words"),
    [
        (encoded(PRIVATE), "unpickles to a list"),  # not the string it should be
        (encoded(b"bytes"), "unpickles to a bytes"),
        (encoded(collections.OrderedDict()), "collections.OrderedDict"),
        (encoded("not json"), "not JSON"),
        (encoded(json.dumps({"input": "1"})), "not a list"),
        (encoded(json.dumps([{"input": 1, "output": "2"}])), "string input"),
        ("!!!not base64", "not base64"),
        (base64.b64encode(b"plain bytes, no zlib").decode(), "not base64 of zlib"),
        (base64.b64encode(zlib.compress(b"\x80\x04garbage")).decode(), "not a pickle"),
        ("[{broken json", "not JSON"),
    ],
)
def test_private_tests_other_than_plain_strings_are_refused(tmp_path, private, words):
    path = write_release(tmp_path / "lcb", {"test.jsonl": [lcb_row("x", "2024-09-01", private)]})
    with pytest.raises(loader.TaskError, match=words):
        loader.load_problems(lcb_spec(), str(path))
    skipped: list[str] = []
    assert loader.load_problems(lcb_spec(), str(path), on_bad_row="skip", skipped=skipped) == []
    assert len(skipped) == 1 and words.split()[0] in skipped[0]


def test_a_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(livecodebench, "MAX_PRIVATE_BYTES", 1 << 16)
    bomb = base64.b64encode(zlib.compress(pickle.dumps("x" * (1 << 20)))).decode()
    with pytest.raises(livecodebench.LoadError, match="inflate past"):
        livecodebench.decode_private(bomb)


def test_bad_rows_and_dates_are_one_line_errors(tmp_path):
    rows = [lcb_row("a", "someday", "[]")]
    path = write_release(tmp_path / "lcb", {"test.jsonl": rows})
    with pytest.raises(loader.TaskError, match="not an ISO date"):
        loader.load_problems(lcb_spec(), str(path))
    del rows[0]["question_content"]
    path = write_release(tmp_path / "lcb2", {"test.jsonl": rows})
    with pytest.raises(loader.TaskError, match="lacks field"):
        loader.load_problems(lcb_spec(), str(path))
    with pytest.raises(loader.TaskError, match="not an ISO date"):
        loader.load_problems(lcb_spec(), str(path), selection=loader.Selection(after="Aug 2024"))
    with pytest.raises(loader.TaskError, match="is not before"):
        loader.load_problems(
            lcb_spec(),
            str(path),
            selection=loader.Selection(after="2025-01-01", before="2024-01-01"),
        )


def test_the_suite_window_selects_our_own_suite_and_is_refused_elsewhere():
    cfg = SuiteConfig(name="s", tasks=["thinkbench_stdin"], after="2024-08-01", before="2025-02-01")
    problems, _ = load_suite(cfg)
    days = [p.meta["contest_date"] for p in problems]
    assert days and all("2024-08-01" <= d < "2025-02-01" for d in days)
    assert len(problems) < 30
    with pytest.raises(ConfigError, match="suite.after selects contest dates"):
        load_suite(SuiteConfig(name="m", tasks=["arith"], after="2024-08-01"))
    with pytest.raises(ConfigError, match="no problem's contest date"):
        load_suite(SuiteConfig(name="s", tasks=["thinkbench_stdin"], after="2030-01-01"))


# ---- GPQA --------------------------------------------------------------------------


def gpqa_rows(count: int) -> list[dict]:
    return [
        {
            "Record ID": f"rec{i:04d}",
            "Question": f"Which is right in case {i}?",
            "Correct Answer": f"right {i}",
            "Incorrect Answer 1": f"wrong-a {i}",
            "Incorrect Answer 2": f"wrong-b {i}",
            "Incorrect Answer 3": f"wrong-c {i}",
            "High-level domain": ("Physics", "Chemistry", "Biology")[i % 3],
            "Subdomain": "Sub",
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_gpqa_rows_become_shuffled_four_option_problems(tmp_path, suffix):
    frame = pd.DataFrame(gpqa_rows(8))
    path = tmp_path / f"gpqa_diamond{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    spec = loader.load_spec("gpqa_diamond")
    assert spec.grader_name == "math_choice"
    problems = loader.load_problems(spec, str(path))
    assert len(problems) == 8
    for i, p in enumerate(problems):
        assert p.problem_id == f"rec{i:04d}" and p.subject == frame["High-level domain"][i]
        letter = p.gold
        assert letter in "ABCD"
        assert f"{letter}) right {i}" in p.question  # the right option sits at the gold letter
        assert p.meta["options"][p.meta["answer_index"]] == f"right {i}"
        assert sorted(p.meta["options"]) == sorted(
            [f"right {i}", f"wrong-a {i}", f"wrong-b {i}", f"wrong-c {i}"]
        )
    again = loader.load_problems(spec, str(path))
    assert [p.question for p in again] == [p.question for p in problems]  # reproducible


def test_gpqa_letters_are_uniform_and_follow_the_seed():
    rows = gpqa_rows(800)
    letters = collections.Counter(gpqa.problem_fields(r, i, 0)["gold"] for i, r in enumerate(rows))
    assert set(letters) == set("ABCD")
    assert all(150 <= n <= 250 for n in letters.values()), letters
    other = [gpqa.problem_fields(r, i, 1)["gold"] for i, r in enumerate(rows[:50])]
    same = [gpqa.problem_fields(r, i, 0)["gold"] for i, r in enumerate(rows[:50])]
    assert other != same  # another seed, another order
    # the order depends on the row's Record ID, not its position
    assert gpqa.problem_fields(rows[7], 0, 0) == gpqa.problem_fields(rows[7], 99, 0)


def test_gpqa_rows_with_a_missing_option_are_bad_rows(tmp_path):
    rows = gpqa_rows(3)
    rows[1]["Incorrect Answer 2"] = None
    path = tmp_path / "g.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    spec = loader.load_spec("gpqa_diamond")
    with pytest.raises(loader.TaskError, match=r"row 2: field\(s\) \['Incorrect Answer 2'\]"):
        loader.load_problems(spec, str(path))
    skipped: list[str] = []
    assert len(loader.load_problems(spec, str(path), on_bad_row="skip", skipped=skipped)) == 2


def test_the_gated_hub_set_names_its_token_variable_and_never_the_token(monkeypatch, tmp_path):
    """Through `bench sweep` in a process of its own: the hub libraries read
    their cache and offline settings once, at import, so a process that had
    already imported them (this one, late in a test session) would ignore
    the settings below, try the network, and could be served a cached copy."""
    # An empty cache: a machine that once downloaded the set must not serve it here.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    sweep = ("sweep", "suite=gpqa_diamond", "engine=fake", f"results_dir={tmp_path / 'r'}")
    done = bench(*sweep)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "gated: set HF_TOKEN" in lines[0], done.stderr[-2000:]
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    done = bench(*sweep)
    assert done.returncode != 0 and "could not load" in done.stderr
    assert "hf_secret_value_123" not in done.stderr + done.stdout
    assert not (tmp_path / "r").exists()  # nothing left behind for a run that never started


# ---- a sweep over our own suites -----------------------------------------------------


@pytest.mark.slow
def test_a_sweep_over_our_program_suites_grades_every_answer(tmp_path):
    done = bench(
        "sweep", "suite=programs", "engine=fake", "engine.script=code", "budget.tokens=[16,64]",
        f"results_dir={tmp_path}", "run_name=p", "summary=false",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    records = pd.read_parquet(tmp_path / "p" / "records.parquet")
    assert len(records) == 100
    assert set(records["task"]) == {"thinkbench_stdin", "thinkbench_functional"}
    assert records["status"].notna().all() and not records["correct"].any()
    assert records["detail"].str.contains(" on test 1 of ").all()


def test_the_r1_distill_pack_adds_livecodebench_and_gpqa(make_cfg):
    cfg = make_cfg("+experiment=r1-distill-qwen-1.5b")
    assert list(cfg.suite.tasks) == ["math500", "aime24", "livecodebench", "gpqa_diamond"]
    assert (cfg.suite.after, cfg.suite.before) == ("2024-08-01", "2025-02-01")
    figures = {task: entry["accuracy"] for task, entry in cfg.published.items()}
    assert figures == {
        "math500": 0.839,
        "aime24": 0.289,
        "gpqa_diamond": 0.338,
        "livecodebench": 0.169,
    }


def test_suite_settings_added_for_livecodebench_keep_stored_runs_identity(make_cfg):
    """A run stored before suite.after/before/version existed keeps its identity."""
    from bench.config.identity import config_identity
    from bench.config.schema import to_container

    cfg = to_container(make_cfg("suite=arith"))
    older = {
        **cfg,
        "suite": {k: v for k, v in cfg["suite"].items() if k not in ("after", "before", "version")},
    }
    assert config_identity(cfg) == config_identity(older)
    windowed = {**cfg, "suite": {**cfg["suite"], "after": "2024-08-01"}}
    assert config_identity(windowed) != config_identity(cfg)
