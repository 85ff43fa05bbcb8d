"""What a user sees from the `bench` command on bad input: one clear line, nothing lost."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest
from helpers import bench


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["model=gpt-9"], ["model=gpt-9 is not known", "smollm2-135m", "qwen3-8b"]),
        (["suite=nope"], ["suite=nope is not known", "arith"]),
        (["-m", "model=smollm2-135m,gpt-9"], ["model=gpt-9 is not known"]),
        (["model.temprature=0.5"], ["temprature", "ModelConfig"]),
        (["strategy.n=many"], ["many", "Integer"]),
        (["strategy.name=tree"], ["strategy.name='tree'", "single"]),
    ],
)
def test_bad_config_is_one_line(tmp_path, args, fragments):
    line = one_line_error(bench("sweep", *args, f"results_dir={tmp_path}"))
    for fragment in fragments:
        assert fragment in line
    assert not any(tmp_path.iterdir())  # nothing was started or written


@pytest.mark.parametrize(
    "budget, fragment",
    [("[-1,16]", "integer >= 0"), ("[32,16]", "not increasing"), ("[16,16]", "repeats")],
)
def test_bad_budget_is_one_line(tmp_path, budget, fragment):
    line = one_line_error(
        bench("sweep", "engine=fake", f"budget.tokens={budget}", f"results_dir={tmp_path}")
    )
    assert line.startswith("error: budget.tokens") and fragment in line


@pytest.mark.slow
def test_sweep_then_report_rebuilds_from_records(tmp_path):
    result = bench("sweep", "engine=fake", "suite.limit=4", "run_name=r", f"results_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "r"
    before = pd.read_csv(run_dir / "scaling.csv")
    (run_dir / "scaling.csv").unlink()
    (run_dir / "records.parquet").unlink()
    result = bench("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(before, pd.read_csv(run_dir / "scaling.csv"))
    result = bench("grade", str(tmp_path / "latest"))
    assert result.returncode == 0 and "graded 20 attempt(s)" in result.stdout


def test_report_on_a_folder_that_is_no_run(tmp_path):
    result = bench("report", str(tmp_path))
    assert result.returncode == 2 and "not a run directory" in result.stderr


def test_unknown_command_and_help():
    assert "unknown command" in bench("frobnicate").stderr
    assert "bench sweep" in bench("--help").stdout


def test_models_list_and_unknown_prepare():
    assert "smollm2-135m" in bench("models", "list").stdout
    result = bench("models", "prepare", "nope")
    assert result.returncode == 2 and "choose one of" in result.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["report"], "bench report: the following arguments are required: RUN_DIR"),
        (["report", "x", "--bogus"], "bench report: unrecognized arguments --bogus"),
        (["route", "x", "--splits", "many"], "argument --splits: invalid int value: 'many'"),
        (["merge", "a", "b"], "the following arguments are required: --into"),
        (["show"], "the following arguments are required: RUN_DIR"),
        (["show", "a", "b"], "unrecognized arguments b"),
        (["models"], "the following arguments are required: action"),
        (["models", "prepare"], "the following arguments are required: name"),
        (["perf", "--only", "everything"], "--only ['everything'] is not known"),
        (["compare", "--out"], "argument --out: expected one argument"),
        (["frobnicate"], "unknown command 'frobnicate'; choose one of: sweep, report"),
        (["sweep", "--from-manifest"], "argument --from-manifest: expected one argument"),
    ],
)
def test_every_command_takes_bad_arguments_as_one_line(capsys, argv, fragment):
    from bench.cli.main import EXIT_BAD_INPUT, main

    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and err.startswith("error: ")


def test_version_and_per_command_help(capsys):
    from bench import __version__
    from bench.cli.main import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"thinkbench {__version__}"
    with pytest.raises(SystemExit) as info:
        main(["route", "--help"])
    assert info.value.code == 0 and "--splits" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_help_is_hydras_with_the_config_groups():
    result = bench("sweep", "--help")
    assert result.returncode == 0
    assert "bench sweep is powered by Hydra" in result.stdout
    line = next(li for li in result.stdout.splitlines() if li.startswith("strategy: "))
    listed = set(line.removeprefix("strategy: ").split(", "))
    assert {"api", "beam", "bon", "dvts", "native", "sc", "single", "wait"} <= listed
    groups = dict(
        li.split(": ", 1)
        for li in result.stdout.split("== Config ==")[0].splitlines()
        if ": " in li
    )
    assert set(groups) >= {"model", "engine", "suite", "budget", "strategy", "pricing", "verifier"}
    assert "hydra" not in groups and "_schema" not in result.stdout.split("== Config ==")[0]
    assert groups["engine"] == "fake, openai, openai_chat, vllm, vllm_cpu"


def _engine_with(override: str) -> str:
    """engine=KIND for the kind of engine whose key the override sets."""
    from bench.config.engines import ENGINES

    key = override.split("=")[0].removeprefix("engine.")
    return next(
        f"engine={k.name}" for k in ENGINES.values() if key in k.schema.__dataclass_fields__
    )


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("engine.delay_s=-1", "engine.delay_s=-1.0; it must be a number >= 0"),
        ("engine.delay_s=-0.001", "engine.delay_s=-0.001; it must be a number >= 0"),
        ("engine.delay_s=nan", "engine.delay_s=nan"),
        ("engine.delay_s=inf", "engine.delay_s=inf"),
        ("engine.gpu_memory_utilization=0", "> 0 and <= 1"),
        ("engine.gpu_memory_utilization=1.01", "> 0 and <= 1"),
        ("engine.concurrency=0", "engine.concurrency=0; it must be a number >= 1"),
        ("engine.request_timeout_s=0", "engine.request_timeout_s=0.0; it must be a number > 0"),
        ("engine.max_retries=-1", "engine.max_retries=-1"),
        ("engine.tensor_parallel_size=0", "engine.tensor_parallel_size=0"),
        ("engine.kv_cache_space_gib=0", "engine.kv_cache_space_gib=0"),
        ("engine.block_size=-32", "engine.block_size=-32"),
        ("engine.backoff_max_s=-5", "engine.backoff_max_s=-5.0"),
    ],
)
def test_engine_numbers_out_of_range_are_one_line(make_cfg, override, fragment):
    from bench.config.checks import validate
    from bench.config.schema import ConfigError

    with pytest.raises(ConfigError) as raised:
        validate(make_cfg(_engine_with(override), override))
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "override",
    [
        "engine.delay_s=0",
        "engine.delay_s=0.5",
        "engine.gpu_memory_utilization=1",
        "engine.gpu_memory_utilization=0.01",
        "engine.max_retries=0",
        "engine.backoff_s=0",
        "engine.kv_cache_space_gib=1",
        "engine.max_model_len=null",
    ],
)
def test_engine_numbers_at_their_bounds_are_accepted(make_cfg, override):
    from bench.config.checks import validate

    validate(make_cfg(_engine_with(override), override))


def test_a_negative_delay_is_one_line_from_the_command_line(tmp_path):
    result = bench("sweep", "engine=fake", "engine.delay_s=-1", f"results_dir={tmp_path}")
    assert one_line_error(result) == (
        "error: engine.delay_s=-1.0; it must be a number >= 0 "
        "(seconds of simulated latency (fake engine))"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv", [["foo"], ["engine=fake", "foo"], [""], ["model"], ["engine=fake", "budget.tokens"]]
)
def test_a_word_that_is_no_override_is_one_line(tmp_path, argv):
    line = one_line_error(bench("sweep", *argv, f"results_dir={tmp_path}"))
    word = [a for a in argv if "=" not in a][0]
    assert line.startswith(f"error: {word!r} is not an override; write key=value")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["--cfg", "job", "engine=fake"],
        ["-c", "all"],
        ["--info", "defaults", "engine=fake"],
        ["--info"],
        ["-cn", "config", "engine=fake"],
        ["-m", "engine=fake", "seed=0,1"],
        ["+experiment=qwen3-0.6b-thinking"],
        ["hydra.run.dir=out"],
    ],
)
def test_hydra_flags_and_their_values_are_not_taken_for_words(argv):
    from bench.cli.sweep import _not_an_override

    assert _not_an_override(argv) is None
