"""The store checks every row it writes against the part's columns
(bench/run/columns.py): a wrong type is refused in one line naming the row and
column, and nothing is written; what pandas and numpy hand back from a part
(numpy numbers, NaN for a missing value) is accepted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.run.columns import GENERATION, GRADE, VERIFICATION, PartSchema, RowTypeError
from bench.run.store import RunStore


def _parts(run_dir, kind):
    return sorted((run_dir / kind).glob("part-*.parquet"))


@pytest.mark.parametrize(
    "schema, row, words",
    [
        (GENERATION, {"key": "k", "budget": "16"}, "'budget' is a str ('16'), not an integer"),
        (GENERATION, {"key": "k", "budget": True}, "'budget' is a bool"),
        (GENERATION, {"key": "k", "budget": 16.5}, "'budget' is a float (16.5)"),
        (GENERATION, {"key": "k", "sample": None}, "'sample' is None, not an integer"),
        (GENERATION, {"key": "k", "seconds": math.nan}, "'seconds' is nan, not a number"),
        (GENERATION, {"key": "k", "seconds": "0.5"}, "not a number"),
        (GENERATION, {"key": "k", "hit_budget": 1}, "'hit_budget' is a int (1), not a boolean"),
        (GENERATION, {"key": "k", "thinking_text": b"x"}, "'thinking_text' is a bytes"),
        (GENERATION, {"key": "k", "answer_text": None}, "'answer_text' is None, not a string"),
        (GENERATION, {"key": "k", "verifier_score": "0.9"}, "'verifier_score' is a str"),
        (GENERATION, {"budget": 16}, "'key' is None, not a record key"),
        (GENERATION, {"key": "", "budget": 16}, "'key' is '', not a record key"),
        (GENERATION, {"key": 7}, "'key' is 7"),
        (GRADE, {"key": "k", "correct": "yes"}, "'correct' is a str ('yes'), not a boolean"),
        (GRADE, {"key": "k", "correct": None}, "'correct' is None"),
        (GRADE, {"key": "k", "vote_class": "1"}, "'vote_class' is a str"),
        (GRADE, {"key": "k", "status": 0}, "'status' is a int"),
        (VERIFICATION, {"key": "k", "verifier_step_scores": [0.5, "x"]}, "not a list of numbers"),
        (VERIFICATION, {"key": "k", "verifier_step_scores": "0.5"}, "not a list of numbers"),
        (VERIFICATION, {"key": "k", "verifier_tokens": 1.5}, "not an integer"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_named(schema, row, words):
    assert words in (schema.problem(row) or "")
    with pytest.raises(RowTypeError) as error:
        schema.check([{"key": "fine"}, row])
    message = str(error.value)
    assert message.startswith(f"{schema.kind} row 1 not stored: ") and words in message
    assert "\n" not in message and len(message) < 200


LONG = "x" * 10_000


@pytest.mark.parametrize(
    "schema, row",
    [
        (GENERATION, {"key": "k"}),  # columns left out: an older part, a minimal row
        (GENERATION, {"key": "k", "mine": object()}),  # a column of its own
        (GENERATION, {"key": "k", "budget": np.int64(16), "sample": np.int32(0)}),
        (GENERATION, {"key": "k", "engine_tokens": 12.0}),  # pandas: an int column with a gap
        (GENERATION, {"key": "k", "engine_tokens": None}),
        (GENERATION, {"key": "k", "engine_tokens": math.nan}),
        (GENERATION, {"key": "k", "seconds": 1, "search_verifier_seconds": np.float32(0.5)}),
        (GENERATION, {"key": "k", "verifier_score": np.float64("nan"), "search_score": None}),
        (GENERATION, {"key": "k", "hit_budget": np.bool_(True), "thinking_text": LONG}),
        (GENERATION, {"key": "k", "thinking_text": "", "answer_text": "é ☃"}),
        (GRADE, {"key": "k", "correct": False, "answer": None, "correct_in_thinking": None}),
        (GRADE, {"key": "k", "correct": np.bool_(False), "status": math.nan, "detail": None}),
        (GRADE, {"key": "k", "vote_class": -1, "answer": "42"}),
        (VERIFICATION, {"key": "k", "verifier_step_scores": []}),
        (VERIFICATION, {"key": "k", "verifier_step_scores": np.array([0.1, 0.9])}),
        (VERIFICATION, {"key": "k", "verifier_score": math.nan, "verifier_step_scores": (1, 0.5)}),
    ],
)  # fmt: skip
def test_near_misses_are_stored(schema, row):
    assert schema.problem(row) is None
    schema.check([row])


def test_nothing_is_written_when_one_row_is_wrong(tmp_path):
    store = RunStore(tmp_path / "run")
    good = {"key": "a", "budget": 16, "correct": True}
    store.append_generations([{"key": "a", "budget": 16}])
    with pytest.raises(RowTypeError, match="generation row 1 not stored: 'budget'"):
        store.append_generations([{"key": "b", "budget": 8}, {"key": "c", "budget": "8"}])
    with pytest.raises(RowTypeError, match="grade row 0 not stored: 'correct'"):
        store.append_grades([{**good, "correct": "true"}])
    with pytest.raises(RowTypeError, match="verification row 0"):
        store.append_verifications([{"key": "a", "verifier_tokens": "12"}])
    assert len(_parts(store.run_dir, "generations")) == 1
    assert _parts(store.run_dir, "grades") == []
    assert not (store.run_dir / "verifications").exists()
    assert list(store.generations()["key"]) == ["a"]
    assert not list(store.run_dir.rglob("*.tmp"))


def test_what_the_store_reads_back_it_can_write_again(tmp_path):
    """A round trip through Parquet and pandas (as bench merge does it) keeps
    rows the check accepts, gaps in int columns included."""
    store = RunStore(tmp_path / "a")
    rows = [
        {"key": "a", "budget": 16, "engine_tokens": 30, "verifier_score": 0.5, "answer_text": "1"},
        {
            "key": "b",
            "budget": 32,
            "engine_tokens": None,
            "verifier_score": None,
            "answer_text": "",
        },
    ]
    store.append_generations(rows)
    store.append_grades([
        {"key": "a", "correct": True, "answer": "1", "status": None},
        {"key": "b", "correct": False, "answer": None, "status": "no_code"},
    ])  # fmt: skip
    store.append_verifications([
        {"key": "a", "verifier": "v", "verifier_step_scores": [0.2, 0.7], "verifier_tokens": 9},
    ])  # fmt: skip
    again = RunStore(tmp_path / "b")
    again.append_generations(store.generations().to_dict("records"))
    again.append_grades(store.grades().to_dict("records"))
    again.append_verifications(store.verifications().to_dict("records"))
    read = again.records().set_index("key")
    assert read.loc["a", "engine_tokens"] == 30 and pd.isna(read.loc["b", "engine_tokens"])
    assert list(read.loc["a", "verifier_step_scores"]) == [0.2, 0.7]
    assert bool(read.loc["a", "correct"]) and not bool(read.loc["b", "correct"])


def test_a_schema_names_only_types_it_can_check():
    with pytest.raises(ValueError, match="unknown type 'integer'"):
        PartSchema("x", {"key": "str", "n": "integer"})
    for schema in (GENERATION, GRADE, VERIFICATION):
        assert schema["key"] == "str" and "key" in schema


def test_every_stored_column_has_its_name_as_a_constant():
    """The schemas are written with the constants (columns.BUDGET == "budget")."""
    from bench.run import columns

    stored = set(columns.GENERATION) | set(columns.GRADE) | set(columns.VERIFICATION)
    constants = {
        name: value
        for name, value in vars(columns).items()
        if name.isupper() and isinstance(value, str)
    }
    assert set(constants.values()) == stored
    assert all(name == value.upper() for name, value in constants.items())
